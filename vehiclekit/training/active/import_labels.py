"""``train-vehicle import-labels``: merge labels into the project's label store (who, when, source).

Reads a ``path,label`` CSV (e.g. a ``select --strategy ups`` pseudo-label file, or a spreadsheet),
or a Label Studio JSON / JSON-MIN export. An image that already has a different label is a
conflict: listed, not applied (exit status 3), unless ``--replace`` (the old answer is kept in the
store's history). ``train-vehicle supervised --labels labels.db`` trains on the store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vehiclekit.labeling import LabelStore
from vehiclekit.training.core.user_images import from_label_file

#: Exit status when conflicts were found and left unapplied.
CONFLICT_EXIT_STATUS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="path,label CSV or Label Studio export (JSON or JSON-MIN)")
    p.add_argument("--store", default="labels.db", help="label store: SQLite file or database URL (default: %(default)s)")
    p.add_argument("--by", required=True, help="who labelled these (a name or team; stored with every label)")
    p.add_argument("--source", help="where the labels come from (default: import:FILE)")
    p.add_argument("--images-root", type=Path,
                   help="folder relative image paths / Label Studio local-files paths resolve against (default: the file's folder)")
    p.add_argument("--replace", action="store_true",
                   help="let these labels replace different existing ones (the old ones stay in the history)")


def run(args: argparse.Namespace) -> int:
    store = LabelStore(args.store)
    conflicts = 0
    for path in args.files:
        rows = from_label_file(path, args.images_root)
        report = store.merge(rows, args.by, args.source or f"import:{path.name}", args.replace)
        print(f"{path}: {report.added} added, {report.unchanged} unchanged, {report.replaced} replaced, "
              f"{len(report.conflicts)} conflicts")
        for image, stored, new in report.conflicts:
            print(f"  conflict: {image} is {stored!r} in the store, {new!r} in {path.name} (kept {stored!r})")
        conflicts += len(report.conflicts)
    print(f"{store.target}: {len(store.current())} labelled images")
    if conflicts:
        print(f"{conflicts} conflicting label(s) not applied: check them, then re-run with --replace to take the new ones")
        return CONFLICT_EXIT_STATUS
    return 0
