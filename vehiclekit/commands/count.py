"""``vehiclekit count``: count the vehicles crossing lines in a video or stream, by direction and type."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vehiclekit.commands.common import save_crop, start_time, video_arguments, video_counter

COUNT_EPILOG = """\
lines: X1,Y1,X2,Y2 or NAME=X1,Y1,X2,Y2 in pixels of the video. A vehicle is counted when its whole
box passes from one side to the other; "in" is crossing from the right-hand side of the line (seen
walking from the first point to the second, y pointing down) to its left-hand side: for a line drawn
left to right, "in" is upward on the screen. Each vehicle counts once per line and direction.

detectors: motion (background subtraction, for a fixed camera; finds anything that moves, so
limit it with --zone), yolox (the COCO detector; works from a moving camera, misses cars seen from
straight above), auto (default: the detector, switching to motion when the first vehicle seen
moving across the view is one the detector misses). While the camera pans or tilts nothing is counted.

examples:
  vehiclekit count ../shared/data/videos/parking-lot-top-down.mp4 --line lane=0,216,768,216 --json
  vehiclekit count rtsp://cam1/stream --line gate=100,400,1180,400 --stats-db stats.db --crops crops/
  vehiclekit count lane.mp4 --line 0,216,768,216 --save-video counted.mp4
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit count``."""
    p.description = ("Track vehicles in a video file, a folder of frames or an rtsp:// / http:// stream and count "
                     "line crossings per direction and type.")
    p.epilog = COUNT_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("source", metavar="SOURCE", help="video file, folder of frames, or stream URL")
    p.add_argument("--line", action="append", required=True, metavar="[NAME=]X1,Y1,X2,Y2", help="a counting line (repeatable)")
    video_arguments(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary: in, out, by_type, lines, crossings")
    p.add_argument("--save-video", type=Path, metavar="OUT", help="write the annotated video (MP4)")
    p.add_argument("--stats-db", help="store each crossing as a traffic event (in = entry, out = exit; gate = line name)")
    p.add_argument("--start", help="wall-clock time of the first frame, ISO-8601 with offset "
                                   "(default: now for a stream, the file's modification time otherwise)")


def run(args: argparse.Namespace) -> int:
    """Count the crossings, print them (or a JSON summary); 0."""
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
            image = save_crop(args.crops, crossing.line, crossing) or crossing.crop
            recorder.record(image, crossing.line, "entry" if crossing.direction == "in" else "exit", crossing.time,
                            vehicle_type=crossing.vehicle_type)
    elif args.crops:
        def record(crossing) -> None:
            save_crop(args.crops, crossing.line, crossing)
    annotator = VideoAnnotator(args.save_video, source.fps, lines) if args.save_video else None
    counter = video_counter(args, source, lines, start_time(args.start, source, "--start"), record, annotator)
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
