"""Labelled crops from a camera's frames with boxes: ``train-vehicle supervised --boxes DIR --class-map FILE``.

The frames are a YOLO-format folder (``images/``, ``labels/``, ``classes.txt``; what Roboflow and most
labelling tools export). Each box with both sides at least ``min_side`` pixels becomes a crop,
labelled through the class map: a CSV of ``source,target`` rows taking each dataset class to one of
your classes (several sources may share a target; an empty target leaves that class out). A class
missing from the map is an error that lists it.

Consecutive frames of a video are near-duplicates, so the crops are split by time, never by frame:
each recording session (the file name's part before its last ``-NUMBER``, as Roboflow names
extracted video frames; a name without one is a session of its own) is cut in frame order into three
blocks, the first 70 % of its frames for train, the next 15 % for val and the last 15 % for test.
Only the frames at the two cuts have a neighbour on the other side.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from vehiclekit.errors import DatasetError
from vehiclekit.training.core.datasets import LabeledImages
from vehiclekit.training.detection.frames import Frame, read_yolo_folder

FRACTIONS = (0.7, 0.15, 0.15)


def read_class_map(path: Path) -> dict[str, str | None]:
    """``source,target`` rows (a ``source,target`` header is allowed); an empty target: left out."""
    if not path.is_file():
        raise DatasetError(f"--class-map {path} does not exist: give a CSV of source,target rows")
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(cell.strip() for cell in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["source", "target"]:
        rows = rows[1:]
    bad = [r for r in rows if len(r) != 2 or not r[0].strip()]
    if bad or not rows:
        raise DatasetError(f"--class-map {path}: every row must be source,target (first bad row: {bad[0] if bad else 'none'})")
    return {source.strip(): target.strip() or None for source, target in rows}


def box_crops(frames: Sequence[Frame], label_of: Callable[[str], int | None], min_side: float,
              thinned: tuple[str, ...] = ()) -> tuple[list[Path], list[int], list[tuple[int, int, int, int]]]:
    """Paths, labels and integer xyxy boxes of every box of ``frames`` with both sides >= ``min_side``
    whose class ``label_of`` maps to a label (None: left out); boxes of the ``thinned`` classes only
    from every second frame."""
    paths, labels, boxes = [], [], []
    for i, frame in enumerate(frames):
        for (x1, y1, x2, y2), name in zip(frame.boxes.tolist(), frame.labels):
            label = label_of(name)
            if label is not None and min(x2 - x1, y2 - y1) >= min_side and not (i % 2 and name in thinned):
                paths.append(frame.path)
                labels.append(label)
                boxes.append((math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)))
    return paths, labels, boxes


def split_by_time(frames: Sequence[Frame], fractions: Sequence[float] = FRACTIONS) -> dict[str, list[Frame]]:
    """Each session's frames, in frame order, cut into train / val / test blocks of ``fractions``."""
    sessions: dict[str, list[Frame]] = defaultdict(list)
    for frame in frames:
        sessions[frame.session].append(frame)
    parts: dict[str, list[Frame]] = {"train": [], "val": [], "test": []}
    for session in sorted(sessions):
        ordered = sorted(sessions[session], key=lambda f: f.index)
        n_train, n_val = round(len(ordered) * fractions[0]), round(len(ordered) * fractions[1])
        parts["train"] += ordered[:n_train]
        parts["val"] += ordered[n_train:n_train + n_val]
        parts["test"] += ordered[n_train + n_val:]
    return parts


def own_box_crops(folder: Path, class_map: Path, min_side: float) -> dict[str, LabeledImages]:
    """The train / val / test crops of a YOLO folder through ``class_map`` (module docstring)."""
    frames = read_yolo_folder(folder)
    mapping = read_class_map(class_map)
    unmapped = sorted({name for f in frames for name in f.labels} - set(mapping))
    if unmapped:
        raise DatasetError(f"--class-map {class_map} has no row for class(es) {unmapped}: map each to one of your "
                           "classes, or to nothing (`name,`) to leave it out")
    classes = tuple(sorted({t for t in mapping.values() if t}))
    if len(classes) < 2:
        raise DatasetError(f"--class-map {class_map} maps to {len(classes)} class(es): a classifier needs two or more")
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split, chosen in split_by_time(frames).items():
        paths, labels, boxes = box_crops(chosen, lambda name: index.get(mapping[name]), min_side)
        out[split] = LabeledImages(tuple(paths), tuple(labels), classes, tuple(boxes))
    empty = [f"{c} ({split})" for split, data in out.items() for i, c in enumerate(classes) if i not in data.labels]
    if empty:
        raise DatasetError(f"no boxes of {', '.join(empty)} with both sides >= {min_side:g} px: every class needs boxes "
                           "in every part of the time split (lower --min-side, or label more)")
    return out
