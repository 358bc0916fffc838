"""``vehiclekit stats ...``: entry/exit traffic statistics per vehicle type (docs/apps.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vehiclekit.apps.matching import DEFAULT_MARGIN, DEFAULT_THRESHOLD
from vehiclekit.apps.segments import DEFAULT_SEGMENTS
from vehiclekit.apps.frame_census import DEFAULT_MIN_SIDE
from vehiclekit.apps.stats import DEFAULT_MIN_MAKE_CONFIDENCE
from vehiclekit.commands.common import db_argument
from vehiclekit.models.zoo import TRAFFIC_DETECTOR, VEHICLE_CLASSES

STATS_EPILOG = """\
examples:
  python -m benchmarks.parking.synthetic day.csv          (a manifest of the vehicle-reid test images)
  vehiclekit stats ingest --manifest day.csv --db stats.db
  vehiclekit stats ingest --folder cam_north/ --gate north --direction entry --db stats.db
  vehiclekit stats report --db stats.db --bucket hour --tz Europe/Berlin --out report/
  vehiclekit stats frames cctv_frames/ --out census/     (vehicles in view per frame, by type)

manifest CSV columns: image,gate,direction,time[,vehicle_type] (direction entry|exit, time ISO-8601
with an offset; relative image paths are relative to the manifest). A --folder is one gate and
direction, timed by each file's modification time. report writes counts.csv, dwell.csv,
report.json, counts.png (stacked counts per type) and dwell.png (dwell-time histogram).
"""

FRAMES_EPILOG = """\
A folder of frames sampled sparsely from a fixed camera (every Nth frame, rate unknown) cannot be
line-counted: a vehicle near the camera moves more than its own length between frames, so no
tracker can tell it from a new one. This counts what the frames do show: the vehicles in view in
each frame, per type and per class (car = car/suv/van/pickup, bus, truck = truck/heavy-truck,
motorcycle), and their mean and peak. For a video at its full frame rate, count line crossings with
`vehiclekit count` instead.

writes OUT/frames.csv (one row per frame, natural name order), OUT/census.json (totals, means,
peaks) and OUT/census.png (vehicles in view per class over the frames).

example:
  vehiclekit stats frames ../shared/data/traffic-cctv/images --out census/ --json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``stats`` subcommands and their options."""
    parser.description = ("Traffic statistics: counts per vehicle type, time bucket, gate and direction; dwell times "
                          "from re-ID matched entry/exit pairs (docs/apps.md); vehicles in view in a folder of camera frames.")
    sub = parser.add_subparsers(dest="stats_command", metavar="COMMAND", required=True)
    ingest = sub.add_parser("ingest", help="recognise images and store them as events", epilog=STATS_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    db_argument(ingest, "VEHICLEKIT_STATS_DB", "stats.db")
    source = ingest.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path, help="CSV manifest (see below)")
    source.add_argument("--folder", type=Path, help="folder of images of one gate and direction")
    ingest.add_argument("--gate", help="gate of the --folder images")
    ingest.add_argument("--direction", choices=("entry", "exit"), help="direction of the --folder images")
    ingest.add_argument("--crop", choices=("whole", "largest"), default="whole",
                        help="recognise the whole image as one vehicle (default) or the largest detected vehicle")
    ingest.add_argument("--no-makes", action="store_true",
                        help="do not recognise each car's make (faster; makes and segments then count as unknown)")
    frames = sub.add_parser("frames", help="vehicles in view per frame, by type, in a folder of frames from a fixed camera",
                            epilog=FRAMES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    frames.add_argument("folder", type=Path, help="folder of frames (jpg, png, ...), read in natural name order")
    frames.add_argument("--out", type=Path, default=Path("census"), help="output folder (default: %(default)s)")
    frames.add_argument("--detector-model", default=TRAFFIC_DETECTOR,
                        help="zoo detector (default: %(default)s, fine-tuned on a fixed traffic camera; yolox-nano: the COCO one)")
    frames.add_argument("--type-model", default="vehicle-type", help="zoo type model or an ONNX file (default: %(default)s)")
    frames.add_argument("--min-side", type=int, default=DEFAULT_MIN_SIDE,
                        help="smallest vehicle counted, box side in pixels: smaller ones are too small to type (default: %(default)s)")
    frames.add_argument("--no-plots", action="store_true", help="write CSV/JSON only")
    frames.add_argument("--json", action="store_true", help="print the summary as JSON")
    report = sub.add_parser("report", help="counts, dwell times, CSV/JSON and plots", epilog=STATS_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    db_argument(report, "VEHICLEKIT_STATS_DB", "stats.db")
    report.add_argument("--bucket", choices=("15min", "hour", "day"), default="hour", help="default: hour")
    report.add_argument("--tz", default="UTC", help="IANA time zone of the buckets, e.g. Europe/Berlin (default: UTC)")
    report.add_argument("--from", dest="start", help="first event time included (ISO-8601 with offset)")
    report.add_argument("--to", dest="end", help="events before this time (ISO-8601 with offset)")
    report.add_argument("--out", type=Path, default=Path("traffic-report"), help="output folder (default: %(default)s)")
    report.add_argument("--no-plots", action="store_true", help="write CSV/JSON only")
    report.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="re-ID similarity to pair an exit with an entry (default: %(default)s)")
    report.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="ambiguity margin (default: %(default)s)")
    report.add_argument("--segments", type=Path, nargs="?", const=DEFAULT_SEGMENTS, metavar="FILE",
                        help="count customer segments by make: a segment table YAML (without FILE: the default "
                        f"table, {DEFAULT_SEGMENTS.name}: luxury / premium / mainstream)")
    report.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_MAKE_CONFIDENCE,
                        help="a make recognised with less confidence counts as unknown, not guessed (default: %(default)s)")


def run_ingest(args: argparse.Namespace) -> int:
    from vehiclekit.apps.events import TrafficRecorder, folder_items, read_manifest
    from vehiclekit.apps.observer import Observer
    from vehiclekit.apps.store import Store

    if args.folder is not None and (args.gate is None or args.direction is None):
        raise ValueError("--folder needs --gate and --direction")
    items = read_manifest(args.manifest) if args.manifest else folder_items(args.folder, args.gate, args.direction)
    count = TrafficRecorder(Store(args.db), Observer(args.crop, makes=not args.no_makes)).ingest(items)
    print(f"ingested {count} events into {args.db}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from vehiclekit.apps.report_files import write_report
    from vehiclekit.apps.segments import load_segments
    from vehiclekit.apps.stats import traffic_report
    from vehiclekit.apps.store import Store
    from vehiclekit.apps.times import parse_time

    start = parse_time(args.start, "--from") if args.start else None
    end = parse_time(args.end, "--to") if args.end else None
    events, vectors = Store(args.db).events(start, end)
    if not events:
        raise ValueError(f"no events in {args.db} for that period: ingest some with `vehiclekit stats ingest`")
    segments = load_segments(args.segments) if args.segments else None
    report = traffic_report(events, vectors, args.bucket, args.tz, args.threshold, args.margin, segments,
                            args.min_confidence)
    written = write_report(report, args.out, plots=not args.no_plots)
    summary = report.summary()
    print(f"{summary['events']} events, per gate / direction / type:")
    for row in summary["per_gate_direction_type"]:
        print(f"  {row['gate']:<10}{row['direction']:<7}{row['vehicle_type']:<12}{row['count']:>6}")
    if segments:
        print("per segment: " + ", ".join(f"{s} {n}" for s, n in summary["per_segment"].items()))
    print("top makes: " + ", ".join(f"{m} {n}" for m, n in list(summary["per_make"].items())[:8]))
    dwell = summary["dwell"]
    print(f"dwell: {dwell['matched']} matched pairs (median {dwell['median_minutes']} min), "
          f"{dwell['unmatched_exits']} unmatched and {dwell['ambiguous_exits']} ambiguous exits")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def run_frames(args: argparse.Namespace) -> int:
    from vehiclekit.apps.frame_census import take_census, write_census
    from vehiclekit.sdk import VehicleClassifier, VehicleDetector, VehicleRecognizer
    from vehiclekit.sdk.image import image_files

    if not args.folder.is_dir():
        raise ValueError(f"{args.folder} is not a folder of frames")
    images = image_files(args.folder)
    if not images:
        raise ValueError(f"{args.folder} holds no images (jpg, png, bmp, webp)")
    recognizer = VehicleRecognizer(VehicleClassifier.named(args.type_model), VehicleDetector(model=args.detector_model))
    census = take_census(images, recognizer, args.min_side, progress=not args.json)
    written = write_census(census, args.out, plots=not args.no_plots)
    summary = census.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['frames']} frames, {summary['mean_in_view']} vehicles in view on average (peak {summary['max_in_view']}), "
          f"boxes >= {args.min_side} px:")
    print(f"  {'class / type':<14}{'vehicle-frames':>15}{'mean in view':>14}{'peak':>6}")
    for name, row in summary["by_class"].items():
        print(f"  {name:<14}{row['vehicle_frames']:>15}{row['mean_in_view']:>14}{row['max_in_view']:>6}")
        for vehicle_type in VEHICLE_CLASSES[name]:
            if len(VEHICLE_CLASSES[name]) > 1 and summary["by_type"][vehicle_type]["vehicle_frames"]:
                t = summary["by_type"][vehicle_type]
                print(f"    {vehicle_type:<12}{t['vehicle_frames']:>15}{t['mean_in_view']:>14}{t['max_in_view']:>6}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


#: subcommand -> the function that runs it.
RUNNERS = {"ingest": run_ingest, "report": run_report, "frames": run_frames}


def run(args: argparse.Namespace) -> int:
    """Run the ``stats`` subcommand; its exit status."""
    return RUNNERS[args.stats_command](args)
