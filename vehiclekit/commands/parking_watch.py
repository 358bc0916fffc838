"""``vehiclekit parking watch``: run the car park from cameras, entry-line crossings opening sessions and exit-line
ones charging them."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

from vehiclekit.commands.common import lot_from_args, parking_options, save_crop, show, start_time, video_arguments, video_counter


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit parking watch``."""
    p.description = ("Watch an entry and an exit camera (files or streams): each vehicle crossing the entry line "
                     "opens a session with its best crop, each crossing the exit line is matched and charged (or "
                     "sent to review), as `parking enter` / `parking exit`.")
    p.epilog = ("example:\n  vehiclekit parking watch --entry entry.mp4 --entry-line 0,216,768,216 "
                "--exit exit.mp4 --exit-line 0,216,768,216 --tariff deploy/tariff.example.yaml")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    parking_options(p)
    p.add_argument("--tariff", default=os.environ.get("VEHICLEKIT_TARIFF"), type=Path,
                   help="tariff YAML (default: $VEHICLEKIT_TARIFF; example: deploy/tariff.example.yaml)")
    for side in ("entry", "exit"):
        p.add_argument(f"--{side}", required=True, metavar="SOURCE", help=f"{side} camera: video file, frame folder or stream URL")
        p.add_argument(f"--{side}-line", required=True, metavar="[NAME=]X1,Y1,X2,Y2", help=f"the {side} camera's line")
        p.add_argument(f"--{side}-direction", choices=("in", "out", "any"), default="in",
                       help=f"which crossings of the {side} line are {side}s (default: in)")
        p.add_argument(f"--{side}-start", help=f"wall-clock time of the {side} video's first frame (ISO-8601 with offset)")
    video_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Watch both cameras until their videos end (streams: until stopped); 0."""
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
            image = save_crop(crops, side, crossing)
            with lock:                  # one recognition / store write at a time, results printed whole
                result = (lot.enter if side == "entry" else lot.exit)(image, line.name, crossing.time,
                                                                      vehicle_type=crossing.vehicle_type)
                show(result, args.json)

        start = start_time(getattr(args, f"{side}_start"), source, f"--{side}-start")
        video_counter(args, source, [line], start, on_crossing).run(source, progress=not args.json)

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
