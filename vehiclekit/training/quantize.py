"""``train-vehicle quantize``: static INT8 quantization of a zoo model or an exported ONNX file,
calibrated on real training images and checked against the fp32 model on held-out images.

Post-training static quantization (Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018) with ONNX Runtime's tools: the graph is
pre-processed (shape inference, fusions), activation ranges are collected on calibration images
(MinMax by default), and QuantizeLinear/DequantizeLinear pairs (QDQ format) are inserted; ONNX
Runtime fuses them into integer kernels. Weights are int8 per output channel (symmetric),
activations uint8: the u8·s8 kernels are the fast ones on AVX2 CPUs without VNNI. Weights keep a
7-bit range (``reduce_range``): those kernels add pairs of u8·s8 products in 16 bits, which full-range
weights can overflow (vehicle-type lost 0.59 points of accuracy with 8 bits, 0.12 with 7).

Data per model (``--data``, default ``../shared/data``):

* vehicle-type v2 classifiers: the ``vehicle-type-v2`` train split calibrates, its test split checks;
* the make-model-year classifier: Stanford Cars train / test;
* re-ID embedders: ``vehicle-reid`` train / test (cross-camera mAP);
* the YOLOX detector: ``coco-unlabeled`` calibrates, ``coco-vehicles`` checks (COCO AP50; the
  release model loses 14-30 AP50 points and is refused, docs/results.md §17);
* any other classifier (e.g. retrained on your images): ``--images DIR`` (one sub-folder per class),
  split as ``finetune --images`` splits it.

The INT8 model is kept only if its score drops by at most ``--max-drop`` points against fp32 on the
same images; otherwise the command deletes it and exits with status 4.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from tqdm import tqdm

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import data_root
from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleReID
from vehiclekit.sdk.detector import letterbox
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.sdk.session import create_session
from vehiclekit.training.classifier import vehicle_type_v2
from vehiclekit.training.core.datasets import LabeledImages, load_stanford_cars, load_vehicle_reid, read_bgr
from vehiclekit.training.core.user_images import from_folder, split_user_images
from vehiclekit.training.detection.evaluate import evaluate_detector
from vehiclekit.training.reid.evaluate import cross_camera_report

#: Exit status when the INT8 model loses more than --max-drop points.
ACCURACY_DROP = 4
#: Default --max-drop per task, in points of its metric (the performance issue's targets).
MAX_DROP = {"classification": 0.5, "reid": 1.0, "detection": 1.0}
CALIBRATION_METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                       "entropy": CalibrationMethod.Entropy}
CALIBRATION_BATCH = 8
MIN_OPSET = 13


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="NAME|ONNX",
                   help="zoo model (vehicle-type, vehicle-model, vehicle-reid, yolox-nano, NAME@VERSION) or an ONNX file")
    p.add_argument("-o", "--output", type=Path,
                   help="INT8 file to write (default: beside a shipped zoo model, where precision=\"int8\" loads it; "
                        "FILE.int8.onnx beside an ONNX file; yolox-nano: the cache folder)")
    p.add_argument("--images", type=Path, help="class sub-folders to calibrate and check a classifier of your own")
    p.add_argument("--data", help="shared data folder (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--calibration-images", type=int, default=256, help="training images whose activations set the ranges")
    p.add_argument("--calibration-method", choices=sorted(CALIBRATION_METHODS), default="minmax",
                   help="how activation ranges are set from the calibration images")
    p.add_argument("--max-drop", type=float,
                   help="largest allowed loss in points of accuracy (classifiers, default 0.5), cross-camera mAP "
                        "(re-ID, 1.0) or AP50 (detector, 1.0); past it the INT8 file is deleted and the exit status is 4")
    p.add_argument("--report", type=Path, help="also write the measured numbers to this JSON file")
    p.add_argument("--seed", type=int, default=0, help="which calibration images are drawn")


@dataclass(frozen=True)
class Check:
    """How one model is calibrated and scored."""

    task: str
    metric: str
    calibration: list[np.ndarray]            # model-input tensors, one per calibration image
    score: Callable[[Path], dict]           # ONNX file -> {metric: value in %, ...}


def run(args: argparse.Namespace) -> int:
    source, output, check = plan(args)
    max_drop = MAX_DROP[check.task] if args.max_drop is None else args.max_drop
    print(f"quantizing {source} ({check.task}) with {len(check.calibration)} calibration images, "
          f"{args.calibration_method} ranges")
    quantize(source, output, check.calibration, CALIBRATION_METHODS[args.calibration_method])
    fp32, int8 = check.score(source), check.score(output)
    drop = fp32[check.metric] - int8[check.metric]
    report = {"source": str(source), "output": str(output), "metric": check.metric, "fp32": fp32, "int8": int8,
              "drop_points": drop, "max_drop": max_drop, "calibration_images": len(check.calibration),
              "calibration_method": args.calibration_method, "size_mb": {
                  "fp32": source.stat().st_size / 1e6, "int8": output.stat().st_size / 1e6}}
    print(f"{check.metric}: fp32 {fp32[check.metric]:.2f}  int8 {int8[check.metric]:.2f}  drop {drop:+.2f} points "
          f"(allowed {max_drop:g}); size {report['size_mb']['fp32']:.1f} MB -> {report['size_mb']['int8']:.1f} MB")
    for key in sorted(set(int8) - {check.metric}):
        print(f"  {key}: fp32 {fp32.get(key, float('nan')):.2f}  int8 {int8[key]:.2f}")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    if drop > max_drop:
        output.unlink()
        others = " or ".join(m for m in sorted(CALIBRATION_METHODS) if m != args.calibration_method)
        print(f"train-vehicle quantize: error: INT8 loses {drop:.2f} points of {check.metric} (more than --max-drop "
              f"{max_drop:g}); deleted {output}. Try --calibration-method {others} or more --calibration-images, "
              "or keep the fp32 model.", file=sys.stderr)
        return ACCURACY_DROP
    print(f"wrote {output}")
    return 0


def plan(args: argparse.Namespace) -> tuple[Path, Path, Check]:
    """The fp32 source, the INT8 output and how to calibrate and score them."""
    if Path(args.model).suffix == ".onnx":
        source = Path(args.model)
        if not source.is_file():
            raise VehiclekitError(f"{source} does not exist: give a zoo model name or an ONNX file")
        output = args.output or source.with_suffix(".int8.onnx")
    else:
        entry = zoo.get(args.model)
        source, output = entry.path, args.output or entry.int8_path
    output.parent.mkdir(parents=True, exist_ok=True)
    root = data_root(args.data)
    metadata = create_session(source).get_modelmeta().custom_metadata_map
    if "vehiclekit.task" not in metadata:  # the YOLOX ONNX carries no vehiclekit metadata
        return source, output, detector_check(source, root, args.calibration_images, args.seed)
    meta = ClassifierMetadata.from_props(metadata)
    if meta.task == "reid":
        return source, output, reid_check(root, meta, args.calibration_images, args.seed)
    train, test = classifier_data(meta, root, args.images, args.seed)
    calibration = train.subset(sample(len(train), args.calibration_images, args.seed))
    return source, output, Check("classification", "accuracy", tensors(meta, calibration.paths, calibration.boxes),
                                 lambda path: classifier_scores(path, test))


def classifier_data(meta: ClassifierMetadata, root: Path, images: Path | None, seed: int) -> tuple[LabeledImages, LabeledImages]:
    """(calibration pool, check set) for a classifier with ``meta``'s labels."""
    if images is not None:
        splits = split_user_images(from_folder(images), seed)
        train, test = splits["train"], splits["test"]
    elif tuple(meta.labels) == vehicle_type_v2.LABELS:
        train, test = vehicle_type_v2.load(root, "train"), vehicle_type_v2.load(root, "test")
    elif tuple(meta.labels) == load_stanford_cars(root, "class_name").classes:
        train, test = load_stanford_cars(root, "class_name", "train"), load_stanford_cars(root, "class_name", "test")
    else:
        raise VehiclekitError(f"no shared dataset has the labels of {meta.name!r}: give --images DIR with one sub-folder "
                              "per class (the images it was trained on)")
    if set(train.classes) != set(meta.labels):    # scored by label name, so only the set matters
        raise VehiclekitError(f"--images classes {sorted(train.classes)} differ from the model's {sorted(meta.labels)}")
    return train, test


def reid_check(root: Path, meta: ClassifierMetadata, count: int, seed: int) -> Check:
    train, test = load_vehicle_reid(root, "train"), load_vehicle_reid(root, "test")
    chosen = [train[i].path for i in sample(len(train), count, seed)]

    def score(path: Path) -> dict:
        embedder = VehicleReID(model_path=path)
        features = embedder.embed([im.path for im in tqdm(test, desc=f"embedding ({path.name})", unit="img")])
        mean = cross_camera_report(features, test)["mean"]["plain"]
        return {"mAP": 100 * mean["mAP"], "rank-1": 100 * mean["rank-1"]}

    return Check("reid", "mAP", tensors(meta, chosen), score)


def detector_check(source: Path, root: Path, count: int, seed: int) -> Check:
    pool = sorted(p for p in (root / "coco-unlabeled").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pool:
        raise VehiclekitError(f"no calibration images in {root / 'coco-unlabeled'}: point --data at the shared data folder")
    size = VehicleDetector(model_path=source).input_size
    calibration = [letterbox(read_bgr(pool[i]), size)[0][None] for i in sample(len(pool), count, seed)]

    def score(path: Path) -> dict:
        detector = VehicleDetector(model_path=path, score_threshold=0.001, iou_threshold=0.65)
        metrics = evaluate_detector(root, detector=detector)
        return {"AP50": 100 * metrics["ap50"], "AP": 100 * metrics["ap"]}

    return Check("detection", "AP50", calibration, score)


def classifier_scores(path: Path, test: LabeledImages) -> dict:
    """Top-1 accuracy (%) of the classifier at ``path`` on ``test`` through the SDK."""
    classifier = VehicleClassifier(model_path=path)
    predicted = []
    with tqdm(total=len(test), desc=f"checking {path.name}", unit="img") as progress:
        for start in range(0, len(test), classifier.batch_size):
            chunk = range(start, min(start + classifier.batch_size, len(test)))
            crops = [read_bgr(test.paths[i], None if test.boxes is None else test.boxes[i]) for i in chunk]
            predicted += [p.label for p in classifier.predict_batch(crops)]
            progress.update(len(chunk))
    truth = test.named_labels()
    return {"accuracy": 100 * float(np.mean([p == t for p, t in zip(predicted, truth)]))}


def sample(size: int, count: int, seed: int) -> list[int]:
    """``count`` distinct indices below ``size`` (all when fewer), sorted."""
    return sorted(np.random.default_rng(seed).permutation(size)[:count].tolist())


def tensors(meta: ClassifierMetadata, paths, boxes=None) -> list[np.ndarray]:
    """Each image (or its box) pre-processed as the SDK feeds the model: ``[1, 3, H, W]`` float32."""
    crops = [read_bgr(p, None if boxes is None else boxes[i]) for i, p in enumerate(paths)]
    batch = classifier_input(crops, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
    return [item[None] for item in batch]


def at_least_opset(source: Path, scratch: Path) -> Path:
    """``source``, or its conversion to opset :data:`MIN_OPSET` written to ``scratch`` when older (per-channel
    DequantizeLinear needs its ``axis`` attribute; the YOLOX release is opset 11)."""
    model = onnx.load(str(source))
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= MIN_OPSET:
        return source
    onnx.save(onnx.version_converter.convert_version(model, MIN_OPSET), str(scratch))
    return scratch


class _Batches(CalibrationDataReader):
    def __init__(self, input_name: str, items: list[np.ndarray], batch: int):
        self._feeds: Iterator[dict] = iter(
            {input_name: np.concatenate(items[i:i + batch])} for i in range(0, len(items), batch))

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def quantize(source: Path, output: Path, calibration: list[np.ndarray], method: CalibrationMethod) -> None:
    """Write the INT8 QDQ model of ``source`` to ``output`` (vehiclekit metadata kept)."""
    model_input = create_session(source).get_inputs()[0]
    batch = 1 if isinstance(model_input.shape[0], int) else CALIBRATION_BATCH  # YOLOX: fixed batch of 1
    with tempfile.TemporaryDirectory(prefix="vehiclekit-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(at_least_opset(source, Path(scratch) / "opset.onnx")), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(output), _Batches(model_input.name, calibration, batch),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=method, reduce_range=True,
        )
