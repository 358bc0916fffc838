"""A user's own labelled images for ``train-vehicle supervised --images DIR`` / ``--labels FILE``.

Three ways to say what each image shows:

- ``--images DIR``: one sub-folder per class (``DIR/car/0001.jpg``, ``DIR/van/...``), as
  torchvision's ``ImageFolder`` and ``yolo classify`` expect;
- ``--labels FILE.csv``: rows ``path,label`` (a header row ``path,label`` is allowed; relative paths
  are relative to the CSV's folder);
- ``--labels labels.db``: the project's label store (:mod:`vehiclekit.labeling`: the console's and
  ``train-vehicle import-labels``' labels);
- ``--labels FILE.json``: a Label Studio export of an image-classification project (the full
  ``JSON`` export, or ``JSON-MIN``); each task's first non-cancelled choice is its label. Image
  paths ``/data/local-files/?d=REL`` resolve against ``--images-root`` (default: the JSON's
  folder); uploaded files (``/data/upload/N/ab12cd34-name.jpg``) are looked up by file name there.

Every image is decoded once up front. An unreadable one is skipped and listed; more than
``max_bad_share`` of them stops the run (a wrong folder, not a few bad files). The images are split
once, stratified by class and seeded (70 / 15 / 15 %, or train / test with ``--val-images DIR`` as
val), and the split is written to the run directory as ``split.json``: ``--resume`` and later
evaluations use exactly the same images.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import cv2

from vehiclekit.errors import DatasetError
from vehiclekit.labeling import LabelStore, is_label_store
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.training.core.datasets import LabeledImages, stratified_split

#: Fewest images a class needs: one each for train, val and test.
MIN_PER_CLASS = 3
SPLIT_FILE = "split.json"


def from_folder(folder: Path) -> list[tuple[Path, str]]:
    """(image, class) for every image file in ``folder``'s class sub-folders."""
    if not folder.is_dir():
        raise DatasetError(f"--images {folder} is not a folder: give a folder with one sub-folder per class")
    folder = folder.resolve()           # split.json must not depend on the directory a command ran from
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{folder} has no class sub-folders: put each class's images in DIR/<class>/")
    items, empty = [], []
    for d in classes:
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        empty += [] if files else [d.name]
        items += [(f, d.name) for f in files]
    if empty:
        raise DatasetError(f"class folder(s) {', '.join(empty)} under {folder} hold no images "
                           f"({'/'.join(sorted(IMAGE_SUFFIXES))}): add images or remove the folder")
    return items


def from_label_file(path: Path, images_root: Path | None = None) -> list[tuple[Path, str]]:
    """(image, class) from a ``path,label`` CSV, a Label Studio JSON export or a label store."""
    if is_label_store(path):
        return LabelStore(path).items()
    if not path.is_file():
        raise DatasetError(f"label file {path} does not exist")
    root = (images_root or path.parent).resolve()
    if path.suffix.lower() == ".json":
        return _label_studio(path, root)
    return [(_resolve(root, p), label) for p, label in _csv_rows(path, ("path", "label"))]


def _csv_rows(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    """The stripped rows of a CSV with ``columns`` (an optional header row naming them; ``#``
    comments skipped); a row missing a value is an error naming it."""
    with path.open(newline="") as f:
        rows = [[c.strip() for c in r[: len(columns)]] for r in csv.reader(f) if r and not r[0].startswith("#")]
    if rows and [c.lower() for c in rows[0]] == list(columns):
        rows = rows[1:]
    if bad := [i + 1 for i, r in enumerate(rows) if len(r) < len(columns) or not all(r)]:
        raise DatasetError(f"{path}: rows {bad[:5]} are not `{','.join(columns)}`")
    return rows


def _label_studio(path: Path, root: Path) -> list[tuple[Path, str]]:
    try:
        tasks = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not JSON ({e}); export the Label Studio project as JSON or JSON-MIN") from None
    if not isinstance(tasks, list):
        raise DatasetError(f"{path}: a Label Studio export is a list of tasks")
    items, unlabeled = [], 0
    for task in tasks:
        image, label = _task_image_and_label(task)
        if label is None:
            unlabeled += 1
            continue
        items.append((_label_studio_path(root, image), label))
    if unlabeled:
        print(f"{path}: {unlabeled} task(s) without a choice skipped")
    return items


def _task_image_and_label(task: dict) -> tuple[str, str | None]:
    """JSON export: ``data.image`` + the first non-cancelled annotation's choice; JSON-MIN: ``image`` + ``choice``."""
    if "data" in task:
        image = next(iter(task["data"].values())) if "image" not in task["data"] else task["data"]["image"]
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            for result in annotation.get("result", []):
                choices = result.get("value", {}).get("choices")
                if choices:
                    return image, choices[0]
        return image, None
    choice = task.get("choice")
    if isinstance(choice, dict):             # JSON-MIN with several choices allowed
        choice = (choice.get("choices") or [None])[0]
    return task.get("image", ""), choice


def _label_studio_path(root: Path, url: str) -> Path:
    parts = urlsplit(url)
    if parts.path.endswith("/data/local-files/"):
        return _resolve(root, unquote(parse_qs(parts.query)["d"][0]))
    name = Path(unquote(parts.path)).name
    direct = root / name
    if not direct.exists() and "-" in name and parts.path.startswith("/data/upload/"):
        direct = root / name.split("-", 1)[1]       # uploads are stored as "<8 hex>-<original name>"
    return direct


def _resolve(root: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


def check_readable(items: list[tuple[Path, str]], max_bad_share: float) -> list[tuple[Path, str]]:
    """The items whose image decodes; the others are listed, and more than ``max_bad_share`` of
    them is an error."""
    bad = []
    for path, _ in items:
        if not path.is_file():
            bad.append((path, "missing"))
        elif cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
            bad.append((path, "not a decodable image"))
    if bad:
        print(f"skipping {len(bad)} of {len(items)} images:")
        for path, reason in bad[:20]:
            print(f"  {path}: {reason}")
        if len(bad) > 20:
            print(f"  ... and {len(bad) - 20} more")
    if len(bad) > max_bad_share * len(items):
        raise DatasetError(f"{len(bad)} of {len(items)} images are missing or unreadable (more than "
                           f"--max-bad-share {max_bad_share:g}; first: {bad[0][0]}, {bad[0][1]}): check the paths")
    skipped = {p for p, _ in bad}
    return [item for item in items if item[0] not in skipped]


def split_user_images(items: list[tuple[Path, str]], seed: int = 0,
                      val_items: list[tuple[Path, str]] | None = None) -> dict[str, LabeledImages]:
    """Stratified, seeded train / val / test :class:`LabeledImages` (classes sorted by name)."""
    counts = Counter(label for _, label in items)
    if len(counts) < 2:
        raise DatasetError(f"only one class ({next(iter(counts), 'none')}) in the images: a classifier needs two or more")
    need = MIN_PER_CLASS - (1 if val_items else 0)
    small = {c: n for c, n in counts.items() if n < need}
    if small:
        raise DatasetError(f"class(es) {small} have fewer than {need} images: each class needs at least one image "
                           "in every split; add images")
    classes = tuple(sorted(counts))
    if val_items and (unknown := sorted({label for _, label in val_items} - set(classes))):
        raise DatasetError(f"--val-images has classes {unknown} that the training images lack")
    keys = [str(p) for p, _ in items]
    fractions = (0.8, 0.0, 0.2) if val_items else (0.7, 0.15, 0.15)
    parts = stratified_split(keys, [label for _, label in items], fractions, seed, at_least_one=True)
    label_of = {str(p): label for p, label in items}
    if val_items:
        parts["val"] = [str(p) for p, _ in val_items]
        label_of |= {str(p): label for p, label in val_items}
    index = {c: i for i, c in enumerate(classes)}
    return {split: LabeledImages(tuple(Path(k) for k in keys), tuple(index[label_of[k]] for k in keys), classes)
            for split, keys in parts.items()}


def save_split(splits: dict[str, LabeledImages], path: Path) -> None:
    """Rows ``[path, class]``, or ``[path, class, [x1, y1, x2, y2]]`` for crops of boxes."""
    classes = next(iter(splits.values())).classes

    def rows(data: LabeledImages) -> list[list]:
        boxes = data.boxes or (None,) * len(data)
        return [[str(p), classes[y]] + ([list(b)] if b is not None else []) for p, y, b in zip(data.paths, data.labels, boxes)]

    path.write_text(json.dumps({"classes": list(classes), **{split: rows(data) for split, data in splits.items()}}, indent=1) + "\n")


def load_split(path: Path) -> dict[str, LabeledImages]:
    content = json.loads(path.read_text())
    classes = tuple(content.pop("classes"))
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split, rows in content.items():
        boxes = tuple(tuple(r[2]) for r in rows) if rows and all(len(r) == 3 for r in rows) else None
        out[split] = LabeledImages(tuple(Path(r[0]) for r in rows), tuple(index[r[1]] for r in rows), classes, boxes)
    return out


def print_counts(splits: dict[str, LabeledImages]) -> None:
    classes = next(iter(splits.values())).classes
    width = max(len(c) for c in classes)
    print(f"{'class':<{width}}" + "".join(f"{s:>8}" for s in splits))
    for i, c in enumerate(classes):
        print(f"{c:<{width}}" + "".join(f"{data.labels.count(i):>8}" for data in splits.values()))


# ------------------------------------------------------------------ re-identification (identities, cameras)
def reid_items(source: Path) -> list[tuple[Path, str, str]]:
    """(image, identity, camera) from a folder of ``{identity}_{camera}_*.jpg`` files (sub-folders
    included) or a CSV of ``path,identity,camera``."""
    if source.is_file():
        root = source.parent.resolve()
        return [(_resolve(root, p), i, c) for p, i, c in _csv_rows(source, ("path", "identity", "camera"))]
    if not source.is_dir():
        raise DatasetError(f"--images {source} is neither a folder nor a CSV of path,identity,camera")
    items, unnamed = [], []
    for path in sorted(p for p in source.resolve().rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        parts = path.stem.split("_")
        if len(parts) < 2:
            unnamed.append(path.name)
        else:
            items.append((path, parts[0], parts[1]))
    if unnamed:
        raise DatasetError(f"{len(unnamed)} images under {source} are not named {{identity}}_{{camera}}_*.jpg "
                           f"(first: {unnamed[0]}); rename them or list them in a CSV of path,identity,camera")
    return items


def split_reid_items(items: list[tuple[Path, str, str]], seed: int = 0) -> dict[str, list[tuple[Path, str, str]]]:
    """Identities split 70 / 15 / 15 (seeded); only identities seen by two or more cameras can be
    val / test queries, the others all train."""
    cameras: dict[str, set[str]] = {}
    for _, identity, camera in items:
        cameras.setdefault(identity, set()).add(camera)
    multi = sorted(i for i, c in cameras.items() if len(c) > 1)
    if len(multi) < 3:
        raise DatasetError(f"only {len(multi)} identities are seen by two or more cameras: re-ID needs at least 3 "
                           "(one each for training, validation and test), and many more to be useful")
    parts = stratified_split(multi, ["any"] * len(multi), (0.7, 0.15, 0.15), seed, at_least_one=True)
    split_of = {identity: split for split, ids in parts.items() for identity in ids}
    return {split: [item for item in items if split_of.get(item[1], "train") == split] for split in ("train", "val", "test")}
