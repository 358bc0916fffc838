"""``vehiclekit predict IMAGE...``: detect the vehicles in images and classify their type (and attributes).

Torch-free: it only uses :mod:`vehiclekit.sdk`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.commands.common import UsageError
from vehiclekit.errors import DatasetNotFoundError, VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.zoo import COCO_VEHICLE_CLASSES, PRECISIONS
from vehiclekit.paths import data_root
from vehiclekit.sdk import (
    Prediction,
    RecognizedVehicle,
    VehicleClassifier,
    VehicleDetector,
    VehicleRecognizer,
    annotate,
    annotate_whole_image,
    load_image,
)
from vehiclekit.sdk.image import IMAGE_SUFFIXES
from vehiclekit.sdk.recognizer import ATTRIBUTE_MODELS, DEFAULT_MIN_BOX_SIZE, crop

#: In ``--whole-image auto``, images whose longer side is at most this many pixels count as
#: pre-cropped single vehicles (the vehicle-types crops are 100x100).
CROP_MAX_SIDE = 256
#: How many COCO images ``--data-samples`` takes: those with the most vehicles of at least
#: :data:`SAMPLE_MIN_AREA` pixels (COCO "medium" and "large" objects), ties by file name.
COCO_SAMPLES = 4
SAMPLE_MIN_AREA = 32 * 32
#: The committed vehicle-types split; ``--data-samples`` shows images of its test part (never trained on).
VEHICLE_TYPES_SPLIT = Path(__file__).resolve().parents[1] / "training" / "core" / "splits" / "vehicle-types.json"

PREDICT_EPILOG = f"""\
output (one line per vehicle):
  IMAGE  bbox=[x1, y1, x2, y2]  detected=LABEL SCORE  type=TYPE CONFIDENCE
  bbox is in the image's pixels; detected = the YOLOX COCO class (car, bus, truck, motorcycle,
  bicycle) and its score; type = the vehicle-type classifier's class for the crop. With
  --attributes make,model,body, "  make=MAKE CONFIDENCE" etc. follow for cars, SUVs, vans and
  pickups. An image with no vehicle prints "IMAGE  no vehicles".
  With --json: one JSON object per image,
  {{"image", "width", "height", "vehicles": [{{"bbox", "detection": {{"label", "score"}} or null,
  "classification": {{"label", "confidence", "probabilities", "model", "model_version"}},
  "attributes": {{"make": {{...same fields...}}, ...}} (with --attributes)}}]}}.

whole-image mode (--whole-image):
  The type classifier is trained on tight single-vehicle crops such as the 100x100 vehicle-types
  images; on such a crop the detector (made for scenes) misses the vehicle or boxes a part of it.
  With "auto" (default), an image of at most {CROP_MAX_SIDE} px a side is taken to be such a crop: it
  is not run through the detector but classified as a whole, and reported as
  "detected=none (whole image)" (JSON: "detection": null, bbox = the whole image). Larger images
  go through the detector. "always" treats every image as a crop; "never" detects in every image.

examples:
  vehiclekit predict street.jpg --save-annotated out/
  vehiclekit predict crops/*.jpg --whole-image always --json
  vehiclekit predict --data-samples --save-annotated demo-output     (what `make demo` runs)
  vehiclekit predict frames/*.jpg --detector yolox-nano-traffic --min-box-size 24 --save-crops unlabelled/

exit status: 0 when every image was processed, 1 when any failed (each failure is reported on
stderr and the other images are still processed), 2 on a usage error.
"""


@dataclass
class ImageResult:
    """What ``predict`` found in one image: detected vehicles, or one whole-image prediction."""

    name: str
    image: np.ndarray
    vehicles: list[RecognizedVehicle] = field(default_factory=list)
    whole_image: Prediction | None = None


def fraction(text: str) -> float:
    """argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit predict``."""
    parser.description = ("Detect the vehicles in each image (YOLOX-Nano, COCO) and classify the type of each "
                          "(the zoo's vehicle-type model, v3: motorcycle, car, suv, van, pickup, bus, truck, heavy-truck).")
    parser.epilog = PREDICT_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files (JPEG, PNG, BMP, WebP, ...)")
    parser.add_argument(
        "--data-samples",
        action="store_true",
        help=f"also run on a fixed set of sample images from the data root: the {COCO_SAMPLES} "
        "coco-vehicles images with the most vehicles and, from the vehicle-types test split, the first "
        "image of each class",
    )
    parser.add_argument(
        "--data", metavar="DIR", help="data root for --data-samples (default: $VEHICLEKIT_DATA, else ../shared/data)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image instead of text")
    parser.add_argument(
        "--save-annotated", metavar="DIR", type=Path, help="write annotated copies of the images to DIR"
    )
    parser.add_argument(
        "--save-crops", metavar="DIR", type=Path,
        help="write each detected vehicle's crop to DIR as IMAGE-N.jpg (e.g. a new camera's unlabelled crops for "
        "`train-vehicle finetune --unlabeled DIR` and `train-vehicle select`)",
    )
    parser.add_argument(
        "--whole-image",
        choices=("auto", "always", "never"),
        default="auto",
        help=f"classify the whole image as one vehicle instead of detecting: auto (images of at most "
        f"{CROP_MAX_SIDE} px a side; default), always, never",
    )
    parser.add_argument(
        "--score-threshold", type=fraction, default=0.3, metavar="S", help="detector score threshold (default: 0.3)"
    )
    parser.add_argument(
        "--iou-threshold", type=fraction, default=0.45, metavar="T", help="detector NMS IoU threshold (default: 0.45)"
    )
    parser.add_argument(
        "--min-box-size",
        type=int,
        default=DEFAULT_MIN_BOX_SIZE,
        metavar="PX",
        help=f"skip detections narrower or shorter than PX pixels (default: {DEFAULT_MIN_BOX_SIZE})",
    )
    parser.add_argument(
        "--attributes",
        type=attribute_list,
        default=(),
        metavar="LIST",
        help="also recognise these of each car, SUV, van and pickup, comma-separated: make, model, body "
        "(e.g. --attributes make,model)",
    )
    parser.add_argument("--model", default="vehicle-type", help="zoo classifier name (default: vehicle-type)")
    parser.add_argument(
        "--model-path", metavar="ONNX", help="classifier ONNX exported by `train-vehicle export` (overrides --model)"
    )
    parser.add_argument(
        "--detector", default=zoo.DEFAULT_DETECTOR, choices=zoo.names("detection"),
        help="zoo detector: yolox-nano-traffic (fine-tuned for traffic cameras, 640 px) or yolox-nano (COCO, 416 px; "
        "$VEHICLEKIT_DETECTOR, else yolox_nano.onnx in $VEHICLEKIT_MODELS or ../shared/models); NAME@VERSION for an "
        "older version, e.g. yolox-nano-traffic@1 (default: %(default)s)",
    )
    parser.add_argument("--detector-path", metavar="ONNX", help="a YOLOX-Nano ONNX file (overrides --detector)")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="zoo classifiers at fp32 (default) or int8 (faster on CPU, see each model card; the detector stays fp32)",
    )

def data_samples(root: Path) -> list[tuple[str, Path]]:
    """(display name, path) of the ``--data-samples`` images under the data root ``root``."""
    coco = root / "coco-vehicles"
    types = root / "vehicle-types"
    if not (coco / "instances.json").is_file() or not types.is_dir():
        raise DatasetNotFoundError(
            f"--data-samples needs {coco}/instances.json and {types}/ under the data root {root}: "
            "pass --data DIR or set VEHICLEKIT_DATA"
        )
    instances = json.loads((coco / "instances.json").read_text())
    vehicles = Counter(
        a["image_id"]
        for a in instances["annotations"]
        if a["category_id"] in COCO_VEHICLE_CLASSES and a["area"] >= SAMPLE_MIN_AREA
    )
    ranked = sorted(instances["images"], key=lambda image: (-vehicles[image["id"]], image["file_name"]))
    coco_files = [coco / "images" / image["file_name"] for image in ranked if vehicles[image["id"]]]
    paths = [p for p in coco_files if p.is_file()][:COCO_SAMPLES]
    first_of_class: dict[str, Path] = {}
    for relative in json.loads(VEHICLE_TYPES_SPLIT.read_text())["test"]:
        label = relative.split("/")[0]
        if label not in first_of_class and (types / relative).is_file():
            first_of_class[label] = types / relative
    paths += [first_of_class[label] for label in sorted(first_of_class)]
    return [(str(p.relative_to(root)), p) for p in paths]


def process(
    name: str,
    image_input: str | Path,
    whole_image: str,
    recognizer: VehicleRecognizer | None,
    classifier: VehicleClassifier,
) -> ImageResult:
    """Recognise the vehicles of one image, or classify it whole as ``--whole-image`` says
    (``recognizer`` is None in ``always`` mode)."""
    result = ImageResult(name=name, image=load_image(image_input))
    looks_like_crop = max(result.image.shape[:2]) <= CROP_MAX_SIDE
    if recognizer is None or (whole_image == "auto" and looks_like_crop):
        result.whole_image = classifier.predict(result.image)
    else:
        result.vehicles = recognizer.recognize(result.image)
    return result


def _box(bbox: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in bbox) + "]"


def text_lines(result: ImageResult) -> list[str]:
    """The human-readable lines of one image's result."""
    if result.whole_image is not None:
        h, w = result.image.shape[:2]
        p = result.whole_image
        return [
            f"{result.name}  bbox={_box((0, 0, w, h))}  detected=none (whole image)  type={p.label} {p.confidence:.2f}"
        ]
    if not result.vehicles:
        return [f"{result.name}  no vehicles"]
    return [
        f"{result.name}  bbox={_box(v.detection.bbox)}  detected={v.detection.label} {v.detection.score:.2f}  "
        f"type={v.classification.label} {v.classification.confidence:.2f}"
        + "".join(f"  {name}={p.label} {p.confidence:.2f}" for name, p in v.attributes.items())
        for v in result.vehicles
    ]


def json_record(result: ImageResult) -> dict:
    """The ``--json`` object of one image's result."""
    h, w = result.image.shape[:2]
    vehicles = [
        {
            "bbox": list(v.detection.bbox),
            "detection": {"label": v.detection.label, "score": v.detection.score},
            "classification": v.classification.model_dump(),
            **({"attributes": {name: p.model_dump() for name, p in v.attributes.items()}} if v.attributes else {}),
        }
        for v in result.vehicles
    ]
    if result.whole_image is not None:
        whole = {"bbox": [0.0, 0.0, float(w), float(h)], "detection": None}
        vehicles.append({**whole, "classification": result.whole_image.model_dump()})
    return {"image": result.name, "width": w, "height": h, "vehicles": vehicles}


def save_annotated(result: ImageResult, out_dir: Path, used: set[str]) -> None:
    """Write the annotated image to ``out_dir`` under the image's file name, made unique among
    ``used`` (the names written so far, updated)."""
    if result.whole_image is not None:
        canvas = annotate_whole_image(result.image, result.whole_image)
    else:
        canvas = annotate(result.image, result.vehicles)
    source = Path(result.name)
    suffix = source.suffix.lower() if source.suffix.lower() in IMAGE_SUFFIXES else ".png"
    filename, n = source.stem + suffix, 1
    while filename in used:
        n += 1
        filename = f"{source.stem}-{n}{suffix}"
    used.add(filename)
    ok, encoded = cv2.imencode(suffix, canvas)
    if not ok:
        raise VehiclekitError(f"could not encode the annotated image as {suffix}")
    (out_dir / filename).write_bytes(encoded.tobytes())


def save_crops(result: ImageResult, out_dir: Path) -> int:
    """Write each recognised vehicle's crop to ``out_dir`` as ``STEM-N.jpg`` (N from 1, best
    detection first); a whole-image result has none. The number written."""
    stem = Path(result.name).stem
    for n, vehicle in enumerate(result.vehicles, start=1):
        ok, encoded = cv2.imencode(".jpg", crop(result.image, vehicle.detection.bbox), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise VehiclekitError(f"could not encode a crop of {result.name} as JPEG")
        (out_dir / f"{stem}-{n}.jpg").write_bytes(encoded.tobytes())
    return len(result.vehicles)


def attribute_list(text: str) -> tuple[str, ...]:
    """``--attributes make,model`` -> ("make", "model"), each checked."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(set(names) - set(ATTRIBUTE_MODELS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown attribute(s) {unknown or [text]}; choose from {', '.join(ATTRIBUTE_MODELS)}")
    return names


def run(args: argparse.Namespace) -> int:
    """``vehiclekit predict``: returns the exit status."""
    inputs = [(name, Path(name)) for name in args.images]
    if args.data_samples:
        inputs += data_samples(data_root(args.data))
    if not inputs:
        raise UsageError("give at least one IMAGE, or --data-samples")
    detector = (
        None
        if args.whole_image == "always"
        else VehicleDetector(args.score_threshold, args.iou_threshold, model_path=args.detector_path, model=args.detector)
    )
    classifier = VehicleClassifier(model=args.model, model_path=args.model_path, precision=args.precision)
    recognizer = (None if detector is None
                  else VehicleRecognizer(classifier, detector, args.min_box_size, attributes=args.attributes,
                                         precision=args.precision))
    for folder in (args.save_annotated, args.save_crops):
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
    used_names: set[str] = set()
    failures = crops = 0
    for name, path in inputs:
        try:
            result = process(name, path, args.whole_image, recognizer, classifier)
            if args.save_annotated:
                save_annotated(result, args.save_annotated, used_names)
            if args.save_crops:
                crops += save_crops(result, args.save_crops)
        except (VehiclekitError, OSError) as e:
            failures += 1
            print(f"vehiclekit: error: {name}: {e}", file=sys.stderr)
            continue
        lines = [json.dumps(json_record(result))] if args.json else text_lines(result)
        print("\n".join(lines), flush=True)
    if args.save_annotated:
        print(f"annotated images written to {args.save_annotated}", file=sys.stderr)
    if args.save_crops:
        print(f"{crops} vehicle crops written to {args.save_crops}", file=sys.stderr)
    return 1 if failures else 0
