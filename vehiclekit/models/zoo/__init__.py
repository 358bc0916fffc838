"""The model zoo: one place that maps a model name to its file and its facts.

Pure metadata (no torch). Shipped classifiers live beside this file as ONNX with a model card;
the YOLOX-Nano detector is not shipped and is resolved from :func:`vehiclekit.paths.models_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vehiclekit.errors import ModelNotFoundError
from vehiclekit.paths import models_dir

ZOO_DIR = Path(__file__).resolve().parent

# COCO category ids (as in instances.json) of the classes the detector reports as vehicles.
COCO_VEHICLE_CLASSES = {2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck"}
# The same classes by name -> COCO category id (to write detections back in COCO format).
COCO_VEHICLE_CATEGORY_IDS = {name: cat_id for cat_id, name in COCO_VEHICLE_CLASSES.items()}
# The same classes as YOLOX output indices (YOLOX numbers the 80 COCO classes contiguously from 0).
YOLOX_VEHICLE_INDICES = {1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


@dataclass(frozen=True)
class ZooModel:
    name: str
    task: str  # "classification" | "detection" | "reid"
    filename: str
    description: str
    shipped: bool = True  # False: resolved from models_dir(), never committed
    card: str | None = None

    @property
    def path(self) -> Path:
        """Absolute path of the model file; raises :class:`ModelNotFoundError` saying how to get it."""
        if self.shipped:
            path = ZOO_DIR / self.filename
            if not path.is_file():
                raise ModelNotFoundError(
                    f"zoo model {self.name!r} should ship at {path} but is missing: reinstall vehiclekit "
                    f"or rebuild it with the command in its model card"
                )
            return path
        env = os.environ.get("VEHICLEKIT_DETECTOR")
        path = Path(env).expanduser() if env else models_dir() / self.filename
        if not path.is_file():
            raise ModelNotFoundError(
                f"{self.filename} not found at {path}. Download `{self.filename}` from the official "
                "YOLOX release (github.com/Megvii-BaseDetection/YOLOX, Releases, ONNX models, "
                "Apache-2.0) and put it there, or point VEHICLEKIT_DETECTOR at the file "
                "(or VEHICLEKIT_MODELS at its folder)."
            )
        return path


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            name="vehicle-type",
            task="classification",
            filename="vehicle_type.onnx",
            description="6 traffic-camera vehicle types (bike, car, juggernaut, minibus, pickup, truck)",
            card="vehicle_type.md",
        ),
        ZooModel(
            name="vehicle-reid",
            task="reid",
            filename="vehicle_reid.onnx",
            description="vehicle re-identification embedder (BNNeck, L2-normalised), two-camera vehicle-reid",
            card="vehicle_reid.md",
        ),
        ZooModel(
            name="yolox-nano",
            task="detection",
            filename="yolox_nano.onnx",
            description="YOLOX-Nano, COCO 80 classes, 416x416 (Megvii, Apache-2.0); vehicles kept",
            shipped=False,
        ),
    )
}


def get(name: str) -> ZooModel:
    """Look a model up by name; unknown names list the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown zoo model {name!r}; known models: {sorted(ZOO)}") from None
