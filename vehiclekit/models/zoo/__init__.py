"""The model zoo: one place that maps a model name to its file and its facts.

Pure metadata (no torch). Shipped classifiers live beside this file as ONNX with a model card;
the YOLOX-Nano detector is not shipped and is resolved from :func:`vehiclekit.paths.models_dir`.
A name gives the newest version (``vehicle-type``); ``NAME@VERSION`` an older one that stays
loadable (``vehicle-type@1``). A model with ``int8`` also ships its INT8 variant (static QDQ, made by
``train-vehicle quantize``) as ``<stem>.int8.onnx`` beside the fp32 file. The detector has none:
quantization cost it 14-30 AP50 points (docs/results.md §17), so it stays fp32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vehiclekit.errors import ModelNotFoundError
from vehiclekit.paths import cache_dir, models_dir

ZOO_DIR = Path(__file__).resolve().parent

#: Numeric precisions a zoo model can be loaded at.
PRECISIONS = ("fp32", "int8")

#: The labels of ``vehicle-type`` v2 and v3, in output order: a contract that tariffs, statistics and
#: checks rely on.
VEHICLE_TYPES = ("motorcycle", "car", "suv", "van", "pickup", "bus", "truck", "heavy-truck")
#: The coarse classes of traffic counts (a toll road's car / bus / truck, and motorcycle) and the
#: vehicle types each holds; also what a type must be to "fit" a labelled CCTV box's class.
VEHICLE_CLASSES = {"car": ("car", "suv", "van", "pickup"), "bus": ("bus",), "truck": ("truck", "heavy-truck"),
                   "motorcycle": ("motorcycle",)}
#: Each vehicle type's coarse class.
CLASS_OF_TYPE = {t: c for c, types in VEHICLE_CLASSES.items() for t in types}

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
    version: str = "1"
    #: A label group of the model's metadata the classifier answers in (e.g. "make" of a
    #: make-model-year classifier: its classes' probabilities summed per make); None: the classes.
    group: str | None = None
    #: An INT8 variant ships beside the fp32 file.
    int8: bool = False

    @property
    def key(self) -> str:
        """``NAME@VERSION``, the name that always loads this exact model."""
        return f"{self.name}@{self.version}"

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

    @property
    def int8_path(self) -> Path:
        """Where this model's INT8 variant lives, and where ``train-vehicle quantize`` writes it by default
        (beside a shipped model; the cache folder for the unshipped detector, which has no zoo variant)."""
        folder = ZOO_DIR if self.shipped else cache_dir() / "models"
        return folder / (self.filename.removesuffix(".onnx") + ".int8.onnx")

    def path_for(self, precision: str = "fp32") -> Path:
        """The file of this model at ``precision`` (``fp32`` or ``int8``); errors say how to make a
        missing INT8 variant."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        if precision == "fp32":
            return self.path
        make = f"train-vehicle quantize --model {self.key}"
        if not self.int8:
            raise ModelNotFoundError(f"zoo model {self.key!r} has no INT8 variant; make one with `{make} -o FILE` "
                                     "(it is refused if it loses accuracy) and load that file with model_path=")
        if not self.int8_path.is_file():
            raise ModelNotFoundError(f"the INT8 {self.key} is missing at {self.int8_path}: reinstall vehiclekit or "
                                     f"remake it with `{make}`")
        return self.int8_path


#: Every version of every model, by ``NAME@VERSION``.
ZOO: dict[str, ZooModel] = {
    m.key: m
    for m in (
        ZooModel(
            name="vehicle-type",
            task="classification",
            filename="vehicle_type.onnx",
            description="v1: 6 traffic-camera vehicle types (bike, car, juggernaut, minibus, pickup, truck), from scratch",
            card="vehicle_type.md",
        ),
        ZooModel(
            name="vehicle-type",
            version="2",
            task="classification",
            filename="vehicle_type_v2.onnx",
            int8=True,
            description="v2: 8 vehicle types (motorcycle, car, suv, van, pickup, bus, truck, heavy-truck), "
            "ImageNet EfficientNet-Lite0 fine-tuned on traffic-camera crops and street photos",
            card="vehicle_type_v2.md",
        ),
        ZooModel(
            name="vehicle-type",
            version="3",
            task="classification",
            filename="vehicle_type_v3.onnx",
            int8=True,
            description="v3: the 8 types of v2, also trained on a toll-road CCTV camera's boxes and Open Images "
            "street photos (partial labels where a box's class spans several types)",
            card="vehicle_type_v3.md",
        ),
        ZooModel(
            name="vehicle-model",
            task="classification",
            filename="vehicle_model.onnx",
            int8=True,
            description="196 make-model-years of Stanford Cars (2012-era US market), ImageNet EfficientNet-Lite0 fine-tuned",
            card="vehicle_model.md",
        ),
        ZooModel(
            name="vehicle-make",
            task="classification",
            filename="vehicle_model.onnx",
            int8=True,
            description="49 makes: vehicle-model's make-model-year probabilities summed per make",
            card="vehicle_model.md",
            group="make",
        ),
        ZooModel(
            name="vehicle-body",
            task="classification",
            filename="vehicle_model.onnx",
            int8=True,
            description="8 Stanford Cars body types: vehicle-model's probabilities summed per body type",
            card="vehicle_model.md",
            group="body",
        ),
        ZooModel(
            name="vehicle-reid",
            task="reid",
            filename="vehicle_reid.onnx",
            description="v1: re-ID embedder (resnet18-half from SimSiam, BNNeck, 256-d), two-camera vehicle-reid",
            card="vehicle_reid.md",
        ),
        ZooModel(
            name="vehicle-reid",
            version="2",
            task="reid",
            filename="vehicle_reid_v2.onnx",
            int8=True,
            description="v2: re-ID embedder (ImageNet EfficientNet-Lite0, GeM, BNNeck, flip-averaged, 1280-d), "
            "two-camera vehicle-reid",
            card="vehicle_reid_v2.md",
        ),
        ZooModel(
            name="yolox-nano",
            task="detection",
            filename="yolox_nano.onnx",
            description="YOLOX-Nano, COCO 80 classes, 416x416 (Megvii, Apache-2.0); vehicles kept",
            shipped=False,
        ),
        ZooModel(
            name="yolox-nano-traffic",
            task="detection",
            filename="yolox_nano_traffic.onnx",
            description="YOLOX-Nano fine-tuned on a toll-road CCTV camera's frames and general vehicle photos, "
            "640x640, COCO 80-class output",
            card="yolox_nano_traffic.md",
        ),
        ZooModel(
            name="yolox-nano-traffic",
            version="2",
            task="detection",
            filename="yolox_nano_traffic_v2.onnx",
            description="v2: v1's recipe on whole 640x640 training windows for 20 epochs (best epoch on val: 11); "
            "higher AP than v1 on the camera's held-out day and night sessions and on coco-vehicles",
            card="yolox_nano_traffic_v2.md",
        ),
    )
}

#: The detector the SDK, the recognizer and the Triton repository use unless told otherwise.
DEFAULT_DETECTOR = "yolox-nano"
#: The detector fine-tuned on a fixed traffic camera: the default of commands made for such cameras.
TRAFFIC_DETECTOR = "yolox-nano-traffic"


def names(task: str) -> list[str]:
    """What ``model=`` takes for ``task`` (the commands' choices): each name, meaning its newest
    version, then every ``NAME@VERSION``."""
    return sorted({m.name for m in ZOO.values() if m.task == task}) + sorted(k for k, m in ZOO.items() if m.task == task)


def latest() -> dict[str, ZooModel]:
    """Model name -> its newest version."""
    out: dict[str, ZooModel] = {}
    for m in ZOO.values():
        if m.name not in out or int(m.version) > int(out[m.name].version):
            out[m.name] = m
    return out


def get(name: str) -> ZooModel:
    """Look a model up by ``NAME`` (its newest version) or ``NAME@VERSION``; unknown names list the
    known ones."""
    found = ZOO.get(name) if "@" in name else latest().get(name)
    if found is None:
        raise ModelNotFoundError(
            f"unknown zoo model {name!r}; known models: {sorted(latest())} (older versions: "
            f"{sorted(k for k, m in ZOO.items() if m is not latest()[m.name])})"
        )
    return found


def available_precision(name: str, precision: str) -> str:
    """``precision`` if the zoo model ``name`` has that variant, else ``fp32`` (the detector has no INT8)."""
    return precision if precision == "fp32" or get(name).int8 else "fp32"
