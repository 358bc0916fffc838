"""What several ``vehiclekit`` commands share: the usage error, the parking lot and store options, the serving
options, the video-counting options and how a result is printed. Heavy imports happen inside the functions."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from vehiclekit.models import zoo
from vehiclekit.models.zoo import PRECISIONS


class UsageError(Exception):
    """Arguments that parse but make no sense together (reported like an argparse error)."""


def show(result, as_json: bool) -> None:
    """One result per line: its text, or its JSON."""
    print(result.model_dump_json() if as_json else str(result))


def db_argument(parser: argparse.ArgumentParser, env: str, default: str) -> None:
    """``--db``: a store, from ``$env`` else ``default``."""
    parser.add_argument("--db", default=os.environ.get(env, default),
                        help=f"SQLite file or SQLAlchemy URL (default: ${env}, else {default})")


def parking_options(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--json`` of every ``parking`` subcommand."""
    db_argument(parser, "VEHICLEKIT_PARKING_DB", "parking.db")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def lot_from_args(args: argparse.Namespace, **settlement):
    """The :class:`~vehiclekit.apps.ParkingLot` of ``--tariff``, ``--db``, ``--crop`` (and ``--threshold`` /
    ``--margin`` where the command has them); ``settlement``: its ``floor`` / ``cut``."""
    from vehiclekit.apps.errors import TariffError
    from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD
    from vehiclekit.apps.observer import Observer
    from vehiclekit.apps.parking import ParkingLot
    from vehiclekit.apps.store import Store
    from vehiclekit.apps.tariff import load_tariff

    if args.tariff is None:
        raise TariffError("no tariff: pass --tariff FILE or set VEHICLEKIT_TARIFF (example: deploy/tariff.example.yaml)")
    return ParkingLot(load_tariff(args.tariff), Store(args.db), threshold=getattr(args, "threshold", DEFAULT_THRESHOLD),
                      margin=getattr(args, "margin", DEFAULT_MARGIN), observer=Observer(args.crop, makes=True),
                      **settlement)


def precision_argument(parser: argparse.ArgumentParser) -> None:
    """``--precision`` of ``serve`` and ``serving build-repo``."""
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="zoo variants to serve: fp32 (default) or int8 (cpu flavor; the detector stays fp32)")


def model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model NAME=FILE`` of ``serve`` and ``serving build-repo``."""
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FILE", type=_named_model,
                        help="also serve classifier FILE (from `train-vehicle export`) as model NAME; repeatable. "
                        "Reach it with VehicleClassifier(model=NAME, url=...)")


def _named_model(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE (e.g. my-car-park-types=model.onnx), got {text!r}")
    return name, Path(path)


def video_arguments(p: argparse.ArgumentParser) -> None:
    """How ``count`` and ``parking watch`` find, classify and keep the vehicles of a video."""
    p.add_argument("--detector", choices=("auto", "motion", "yolox"), default="auto",
                   help="how vehicles are found in each frame (default: auto)")
    p.add_argument("--score", type=float, default=0.1, help="yolox: lowest detection score (default: %(default)s)")
    p.add_argument("--detector-model", default=zoo.DEFAULT_DETECTOR, choices=zoo.names("detection"),
                   help="yolox and auto: the zoo detector; yolox-nano-traffic for fixed traffic cameras seen from above "
                   "(fine-tuned on a toll-road CCTV camera, 640 px, half the frame rate); NAME@VERSION for an older "
                   "version (default: %(default)s)")
    p.add_argument("--zone", nargs="+", metavar="X,Y", help="only count vehicles whose box centre is inside this polygon")
    p.add_argument("--url", help="Triton server for the detector and classifier (http://host:8000 or grpc://host:8001)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a stream to open (default: %(default)s)")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of a folder of frames (default: %(default)s)")
    p.add_argument("--threads", type=int, help="inference threads (default: ONNX Runtime's)")
    p.add_argument("--crops", type=Path, help="save each counted vehicle's best crop here (kept with the events)")


def _parse_zone(points: list[str] | None):
    import numpy as np

    if not points:
        return None
    try:
        zone = np.array([[float(v) for v in p.split(",")] for p in points], np.float32)
    except ValueError:
        raise ValueError(f"--zone {' '.join(points)}: give at least 3 points X,Y") from None
    if zone.shape[0] < 3 or zone.shape[1] != 2:
        raise ValueError(f"--zone {' '.join(points)}: give at least 3 points X,Y")
    return zone


def start_time(text: str | None, source, what: str) -> datetime:
    """Wall-clock time of ``source``'s first frame: ``text`` (the option ``what``), else the file's modification
    time, else now (a stream)."""
    from vehiclekit.apps.times import parse_time

    if text:
        return parse_time(text, what)
    if Path(source.name).exists():
        return datetime.fromtimestamp(os.path.getmtime(source.name), UTC)
    return datetime.now(UTC)


def video_counter(args: argparse.Namespace, source, lines, start, on_crossing=None, draw=None):
    """The :class:`~vehiclekit.video.counter.VideoCounter` of the :func:`video_arguments` in ``args``."""
    from vehiclekit.sdk import VehicleClassifier
    from vehiclekit.video.counter import VideoCounter, vote
    from vehiclekit.video.proposals import AutoProposals, DetectorProposals, MotionProposals

    if args.detector == "motion":
        proposals = MotionProposals()
    elif args.detector == "yolox":
        proposals = DetectorProposals(args.score, args.url, args.threads, args.detector_model)
    else:
        seconds = source.frame_count / source.fps if source.frame_count else None
        proposals = AutoProposals(DetectorProposals(args.score, args.url, args.threads, args.detector_model), MotionProposals(), seconds)
    classify = vote(VehicleClassifier(url=args.url, threads=args.threads))
    return VideoCounter(lines, proposals, classify, start, zone=_parse_zone(args.zone), on_crossing=on_crossing, draw=draw)


def save_crop(folder: Path | None, prefix: str, crossing) -> str | None:
    """Write a crossing's crop into ``folder`` (None: nowhere); its absolute path."""
    import cv2

    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{crossing.time:%Y%m%dT%H%M%S%f}-track{crossing.track_id}.jpg"
    cv2.imwrite(str(path), crossing.crop)
    return str(path.resolve())
