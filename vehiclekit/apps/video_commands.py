"""``vehiclekit count`` and ``vehiclekit parking watch``: the video commands."""

from __future__ import annotations

import argparse
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

COUNT_EPILOG = """\
lines: X1,Y1,X2,Y2 or NAME=X1,Y1,X2,Y2 in pixels of the video. A vehicle is counted when its whole
box passes from one side to the other; "in" is crossing from the right-hand side of the line (seen
walking from the first point to the second, y pointing down) to its left-hand side: for a line drawn
left to right, "in" is upward on the screen. Each vehicle counts once per line and direction.

detectors: motion (background subtraction, for a fixed camera; finds anything that moves, so
limit it with --zone), yolox (the COCO detector; works from a moving camera, misses cars seen from
straight above), auto (default: the detector for clips under 10 s or a moving camera, else motion).

examples:
  vehiclekit count ../shared/data/videos/parking-lot-top-down.mp4 --line lane=0,216,768,216 --json
  vehiclekit count rtsp://cam1/stream --line gate=100,400,1180,400 --stats-db stats.db --crops crops/
  vehiclekit count lane.mp4 --line 0,216,768,216 --save-video counted.mp4
"""


def _video_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", choices=("auto", "motion", "yolox"), default="auto",
                   help="how vehicles are found in each frame (default: auto)")
    p.add_argument("--score", type=float, default=0.1, help="yolox: lowest detection score (default: %(default)s)")
    p.add_argument("--zone", nargs="+", metavar="X,Y", help="only count vehicles whose box centre is inside this polygon")
    p.add_argument("--url", help="Triton server for the detector and classifier (http://host:8000 or grpc://host:8001)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a stream to open (default: %(default)s)")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of a folder of frames (default: %(default)s)")
    p.add_argument("--threads", type=int, help="inference threads (default: ONNX Runtime's)")
    p.add_argument("--crops", type=Path, help="save each counted vehicle's best crop here (kept with the events)")


def add_count_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("count", help="count vehicles crossing lines in a video or stream, by type",
                            description="Track vehicles in a video file, a folder of frames or an rtsp:// / "
                                        "http:// stream and count line crossings per direction and type.",
                            epilog=COUNT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="video file, folder of frames, or stream URL")
    p.add_argument("--line", action="append", required=True, metavar="[NAME=]X1,Y1,X2,Y2", help="a counting line (repeatable)")
    _video_arguments(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary: in, out, by_type, lines, crossings")
    p.add_argument("--save-video", type=Path, metavar="OUT", help="write the annotated video (MP4)")
    p.add_argument("--stats-db", help="store each crossing as a traffic event (in = entry, out = exit; gate = line name)")
    p.add_argument("--start", help="wall-clock time of the first frame, ISO-8601 with offset "
                                   "(default: now for a stream, the file's modification time otherwise)")
    p.set_defaults(run=run_count)


def add_watch_parser(sub: argparse._SubParsersAction, common) -> None:
    """``parking watch``; ``common(parser)`` adds the parking commands' --db/--tariff/--json options."""
    p = sub.add_parser("watch", help="run the car park from cameras: entry-line crossings open sessions, exit-line ones charge",
                       description="Watch an entry and an exit camera (files or streams): each vehicle crossing "
                                   "the entry line opens a session with its best crop, each crossing the exit line "
                                   "is matched and charged (or sent to review), as `parking enter` / `parking exit`.",
                       epilog="example:\n  vehiclekit parking watch --entry entry.mp4 --entry-line 0,216,768,216 "
                              "--exit exit.mp4 --exit-line 0,216,768,216 --tariff deploy/tariff.example.yaml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                   help="tariff YAML (default: $VEHICLEKIT_TARIFF; example: deploy/tariff.example.yaml)")
    for side in ("entry", "exit"):
        p.add_argument(f"--{side}", required=True, metavar="SOURCE", help=f"{side} camera: video file, frame folder or stream URL")
        p.add_argument(f"--{side}-line", required=True, metavar="[NAME=]X1,Y1,X2,Y2", help=f"the {side} camera's line")
        p.add_argument(f"--{side}-direction", choices=("in", "out", "any"), default="in",
                       help=f"which crossings of the {side} line are {side}s (default: in)")
        p.add_argument(f"--{side}-start", help=f"wall-clock time of the {side} video's first frame (ISO-8601 with offset)")
    _video_arguments(p)
    p.set_defaults(run=run_watch)


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


def _start_time(text: str | None, source, what: str) -> datetime:
    from vehiclekit.apps.times import parse_time

    if text:
        return parse_time(text, what)
    if Path(source.name).exists():
        return datetime.fromtimestamp(os.path.getmtime(source.name), UTC)
    return datetime.now(UTC)


def _counter(args: argparse.Namespace, source, lines, start, on_crossing=None, draw=None):
    from vehiclekit.sdk import VehicleClassifier
    from vehiclekit.video.counter import VideoCounter, vote
    from vehiclekit.video.proposals import (
        AutoProposals,
        DetectorProposals,
        MotionProposals,
    )

    if args.detector == "motion":
        proposals = MotionProposals()
    elif args.detector == "yolox":
        proposals = DetectorProposals(args.score, args.url, args.threads)
    else:
        seconds = source.frame_count / source.fps if source.frame_count else None
        proposals = AutoProposals(DetectorProposals(args.score, args.url, args.threads), MotionProposals(), seconds)
    classify = vote(VehicleClassifier(url=args.url, threads=args.threads))
    return VideoCounter(lines, proposals, classify, start, zone=_parse_zone(args.zone), on_crossing=on_crossing, draw=draw)


def _save_crop(folder: Path | None, prefix: str, crossing) -> str | None:
    import cv2

    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{crossing.time:%Y%m%dT%H%M%S%f}-track{crossing.track_id}.jpg"
    cv2.imwrite(str(path), crossing.crop)
    return str(path.resolve())


def run_count(args: argparse.Namespace) -> int:
    from vehiclekit.video.annotate import VideoAnnotator
    from vehiclekit.video.lines import CountingLine
    from vehiclekit.video.source import VideoSource

    lines = [CountingLine.parse(text, f"line{i + 1}") for i, text in enumerate(args.line)]
    if len({line.name for line in lines}) != len(lines):
        raise ValueError("--line names must differ")
    source = VideoSource(args.source, args.timeout, args.fps)
    record = None
    if args.stats_db:
        from vehiclekit.apps.events import TrafficRecorder
        from vehiclekit.apps.observer import Observer
        from vehiclekit.apps.store import Store

        recorder = TrafficRecorder(Store(args.stats_db), Observer(threads=args.threads))

        def record(crossing) -> None:
            image = _save_crop(args.crops, crossing.line, crossing) or crossing.crop
            recorder.record(image, crossing.line, "entry" if crossing.direction == "in" else "exit", crossing.time,
                            vehicle_type=crossing.vehicle_type)
    elif args.crops:
        def record(crossing) -> None:
            _save_crop(args.crops, crossing.line, crossing)
    annotator = VideoAnnotator(args.save_video, source.fps, lines) if args.save_video else None
    counter = _counter(args, source, lines, _start_time(args.start, source, "--start"), record, annotator)
    try:
        result = counter.run(source, progress=not args.json)
    finally:
        if annotator is not None:
            annotator.close()
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    for c in result.crossings:
        print(f"{c.time:%H:%M:%S.%f}"[:-4], f"{c.line:<10} {c.direction:<3} #{c.track_id:<4} {c.vehicle_type} ({c.type_confidence:.2f})")
    for name, line in summary["lines"].items():
        types = ", ".join(f"{t} {n['in']}/{n['out']}" for t, n in line["by_type"].items()) or "none"
        print(f"{name}: in {line['in']}, out {line['out']}  (by type, in/out: {types})")
    print(f"{result.frames} frames in {result.seconds:.1f} s ({summary['frames_per_second']} frames/s), "
          f"{result.tracks} confirmed tracks")
    if args.save_video:
        print(f"annotated video: {args.save_video}")
    return 0


def run_watch(args: argparse.Namespace) -> int:
    from vehiclekit.apps.cli_common import lot_from_args, show
    from vehiclekit.video.lines import CountingLine
    from vehiclekit.video.source import VideoSource, is_stream

    args.crop = "whole"                 # the observer recognises the crossing's crop as one vehicle
    lot = lot_from_args(args)
    crops = args.crops or Path("parking-crops")
    lock = threading.Lock()

    def watch(side: str) -> None:
        source = VideoSource(getattr(args, side), args.timeout, args.fps)
        line = CountingLine.parse(getattr(args, f"{side}_line"), side)
        wanted = getattr(args, f"{side}_direction")

        def on_crossing(crossing) -> None:
            if wanted != "any" and crossing.direction != wanted:
                return
            image = _save_crop(crops, side, crossing)
            with lock:                  # one recognition / store write at a time, results printed whole
                result = (lot.enter if side == "entry" else lot.exit)(image, line.name, crossing.time,
                                                                      vehicle_type=crossing.vehicle_type)
                show(result, args.json)

        start = _start_time(getattr(args, f"{side}_start"), source, f"--{side}-start")
        _counter(args, source, [line], start, on_crossing).run(source, progress=not args.json)

    if is_stream(args.entry) or is_stream(args.exit):      # live cameras: both at once
        errors: list[BaseException] = []

        def guarded(side: str) -> None:
            try:
                watch(side)
            except BaseException as e:                   # reported after both stop
                errors.append(e)

        threads = [threading.Thread(target=guarded, args=(side,), daemon=True) for side in ("entry", "exit")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    else:                                                  # recordings: entries first, then exits
        watch("entry")
        watch("exit")
    return 0
