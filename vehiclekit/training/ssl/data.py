"""Unlabeled images for pretraining: any folder tree, or presets pooling the shared datasets'
training images. Images that any evaluation scores on (val and test splits of every dataset) never
enter pretraining: the presets are built from training splits only and checked against the
held-out sets, and a folder that contains held-out images is refused.

Both return :class:`LabeledImages` so :class:`ImageDataset` can load them; the "label" is the source
(preset name or folder) and pretraining ignores it. The ``domain`` preset adds what a deployment
collects without labels: frames of the shared videos and the vehicles the detector finds in
``coco-unlabeled`` (both cut once into :func:`cache_dir`; no evaluation scores on them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2

from vehiclekit.errors import DatasetNotFoundError, VehiclekitError
from vehiclekit.paths import cache_dir
from vehiclekit.training.core.datasets import (
    IMAGE_SUFFIXES, LabeledImages, load_stanford_cars, load_vehicle_reid, load_vehicle_types,
)

#: Every VIDEO_STRIDE-th frame of the shared videos; detector boxes scoring at least CROP_SCORE on coco-unlabeled.
VIDEO_STRIDE, CROP_SCORE, MIN_CROP_SIDE = 5, 0.3, 24


def video_frames(root: Path, split: str) -> tuple[Path, ...]:
    """Every ``VIDEO_STRIDE``-th frame of ``root/videos/*`` (cached as JPEG); unlabeled, so train only."""
    if split != "train":
        return ()
    videos = sorted(p for p in (root / "videos").glob("*") if p.suffix.lower() in (".mp4", ".gif", ".avi", ".mov"))
    if not videos:
        raise DatasetNotFoundError(f"no videos under {root / 'videos'}")
    frames = []
    for video in videos:
        folder = cache_dir() / "ssl-frames" / video.stem
        if not (folder / "done").exists():
            folder.mkdir(parents=True, exist_ok=True)
            capture, i = cv2.VideoCapture(str(video)), 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                if i % VIDEO_STRIDE == 0:
                    cv2.imwrite(str(folder / f"{i:05d}.jpg"), image)
                i += 1
            (folder / "done").touch()
        frames += sorted(folder.glob("*.jpg"))
    return tuple(frames)


def coco_unlabeled_crops(root: Path, split: str) -> tuple[Path, ...]:
    """The vehicles YOLOX-Nano finds (score >= ``CROP_SCORE``) in ``root/coco-unlabeled``, cut out and
    cached; unlabeled, so train only."""
    if split != "train":
        return ()
    images = sorted((root / "coco-unlabeled").glob("*.jpg"))
    if not images:
        raise DatasetNotFoundError(f"no images under {root / 'coco-unlabeled'}")
    folder = cache_dir() / "ssl-coco-unlabeled-crops"
    if not (folder / "done").exists():
        from vehiclekit.sdk.detector import VehicleDetector

        folder.mkdir(parents=True, exist_ok=True)
        detector = VehicleDetector(score_threshold=CROP_SCORE)
        for path in images:
            image = cv2.imread(str(path))
            for j, d in enumerate(detector.detect(image)):
                x1, y1, x2, y2 = (int(round(v)) for v in d.bbox)
                if min(x2 - x1, y2 - y1) >= MIN_CROP_SIDE:
                    cv2.imwrite(str(folder / f"{path.stem}-{j}.jpg"), image[y1:y2, x1:x2])
        (folder / "done").touch()
    return tuple(sorted(folder.glob("*.jpg")))


SOURCES: dict[str, Callable[[Path, str], tuple[Path, ...]]] = {
    "vehicle-types": lambda root, split: load_vehicle_types(root, split).paths,
    "stanford-cars": lambda root, split: load_stanford_cars(root, "body_type", split).paths,
    "vehicle-reid": lambda root, split: tuple(r.path for r in load_vehicle_reid(root, split)),
    "videos": video_frames,
    "coco-unlabeled": coco_unlabeled_crops,
}
# preset -> the sources whose *train* split it pools
PRESETS: dict[str, tuple[str, ...]] = {
    "pooled": ("vehicle-types", "stanford-cars", "vehicle-reid"),
    # everything unlabeled the product has: the pooled training images, video frames, detector crops
    "domain": ("vehicle-types", "stanford-cars", "vehicle-reid", "videos", "coco-unlabeled"),
    **{name: (name,) for name in SOURCES},
}


def held_out_images(root: Path) -> set[Path]:
    """Every val and test image of the shared datasets found under ``root`` (resolved paths)."""
    held_out = set()
    for load in SOURCES.values():
        try:
            held_out |= {p.resolve() for split in ("val", "test") for p in load(root, split)}
        except DatasetNotFoundError:  # that dataset is not under root: nothing of it to leak
            continue
    return held_out


def preset_images(root: Path, preset: str) -> LabeledImages:
    """The train-split images of the preset's sources, labelled by source."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    sources = PRESETS[preset]
    paths, labels = [], []
    for i, source in enumerate(sources):
        found = SOURCES[source](root, "train")
        paths += found
        labels += [i] * len(found)
    images = LabeledImages(tuple(paths), tuple(labels), sources)
    _refuse_held_out(images, held_out_images(root), f"preset {preset}")
    return images


def folder_images(folder: Path, root: Path | None = None) -> LabeledImages:
    """Every image under ``folder`` (recursively, sorted; labels ignored). With the shared data root
    ``root``, refuses a folder holding any of its val/test images."""
    if not folder.is_dir():
        raise DatasetNotFoundError(f"--images {folder} is not a folder")
    paths = tuple(sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
    if not paths:
        raise DatasetNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    images = LabeledImages(paths, (0,) * len(paths), (folder.name,))
    if root is not None:
        _refuse_held_out(images, held_out_images(root), f"--images {folder}")
    return images


def _refuse_held_out(images: LabeledImages, held_out: set[Path], what: str) -> None:
    leaked = [p for p in images.paths if p.resolve() in held_out]
    if leaked:
        raise VehiclekitError(
            f"{what} contains {len(leaked)} validation/test images (first: {leaked[0]}); pretraining never sees "
            "images that evaluations score on: use --preset, or a folder without them"
        )
