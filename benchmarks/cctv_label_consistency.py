"""How consistently are the toll-road camera's boxes labelled? The same vehicle in consecutive frames.

``traffic-cctv`` mixes two labelling schemes (``big bus`` / ``small truck`` ... and ``bus-l-`` /
``truck-s-`` ...), within every recording session. Through an operator's class map (default: issue
31's car / bus / small-truck / medium-truck / large-truck, ``deploy/class-maps/traffic-cctv-operator.csv``)
both say the same thing, if they are used alike. There are no vehicle identities, but consecutive
shared frames show far vehicles twice at almost the same place: a box pair of two consecutive frames
of one session that are each other's best match at IoU >= 0.5 is taken to be one vehicle. How often
its class changes between the two frames is a floor on the label noise, and so caps what a per-crop
classifier can agree with the labels on. Pairs of two cars are many and always agree, so agreement is
also given without them.

    .venv/bin/python benchmarks/cctv_label_consistency.py [--class-map FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from vehiclekit.paths import REPO_ROOT, data_root
from vehiclekit.sdk.detector import iou_matrix
from vehiclekit.training.core.box_crops import read_class_map
from vehiclekit.training.detection.frames import read_yolo_folder

OPERATOR_MAP = REPO_ROOT / "deploy" / "class-maps" / "traffic-cctv-operator.csv"
#: The classes of the first labelling scheme; the others (``bus-l-``, ``truck-s-`` ...) and ``car``, the second or both.
SCHEME_A = {"big bus", "small bus", "small truck", "mid truck", "big truck"}
MIN_IOU = 0.5


def same_vehicle_pairs(frames) -> list[tuple[str, str]]:
    """(label, label) of each box pair of consecutive frames of one session that are mutual best matches at IoU >= MIN_IOU."""
    pairs = []
    for a, b in zip(frames, frames[1:]):
        if a.session != b.session or not len(a.boxes) or not len(b.boxes):
            continue
        overlap = iou_matrix(a.boxes, b.boxes)
        for i in range(len(a.boxes)):
            j = int(overlap[i].argmax())
            if overlap[i, j] >= MIN_IOU and int(overlap[:, j].argmax()) == i:
                pairs.append((a.labels[i], b.labels[j]))
    return pairs


def consistency(pairs: list[tuple[str, str]], mapping: dict[str, str | None]) -> dict:
    """Per operator class: the pairs starting in it and where they go; overall agreement with and
    without the (plentiful, always agreeing) car/car pairs; and how often the labelling scheme switches."""
    mapped = [(mapping[x], mapping[y], x, y) for x, y in pairs if mapping[x] and mapping[y]]
    per_class: dict[str, Counter] = defaultdict(Counter)
    for cx, cy, _, _ in mapped:
        per_class[cx][cy] += 1
    trucks_and_buses = [(x, y) for _, _, x, y in mapped if "car" not in (x, y)]
    not_car_car = [(cx, cy) for cx, cy, x, y in mapped if (x, y) != ("car", "car")]
    return {
        "pairs": len(mapped), "same_class": sum(cx == cy for cx, cy, _, _ in mapped),
        "pairs_not_car_car": len(not_car_car), "same_class_not_car_car": sum(cx == cy for cx, cy in not_car_car),
        "scheme_switches": sum((x in SCHEME_A) != (y in SCHEME_A) for x, y in trucks_and_buses),
        "pairs_of_trucks_and_buses": len(trucks_and_buses),
        "per_class": {c: {"pairs": sum(n.values()), "same": n[c], "to": dict(n)} for c, n in sorted(per_class.items())},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--class-map", type=Path, default=OPERATOR_MAP, help="CSV source,target (default: %(default)s)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    frames = read_yolo_folder(data_root(args.data) / "traffic-cctv", size=(640, 640))
    result = consistency(same_vehicle_pairs(frames), read_class_map(args.class_map))
    r = result
    print(f"{r['pairs']} same-vehicle box pairs in consecutive frames: same class {r['same_class'] / r['pairs']:.1%}; "
          f"without the car/car pairs {r['same_class_not_car_car']} of {r['pairs_not_car_car']} "
          f"({r['same_class_not_car_car'] / max(r['pairs_not_car_car'], 1):.1%}); the labelling scheme switched in "
          f"{r['scheme_switches']} of {r['pairs_of_trucks_and_buses']} pairs of two trucks or buses")
    print(f"{'class':<14}{'pairs':>7}{'same':>8}   labelled in the next frame as")
    for name, row in r["per_class"].items():
        print(f"{name:<14}{row['pairs']:>7}{row['same'] / row['pairs']:>8.1%}   {row['to']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
