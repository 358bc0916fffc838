"""``train-vehicle study NAME``: the resumable experiment grids behind the tables in docs/."""

from __future__ import annotations

import argparse

from vehiclekit.training.studies import (
    active_learning,
    label_efficiency,
    label_efficiency_frozen,
    reid_lookalikes,
    ssl,
    transfer,
)

STUDIES = {
    "ssl": (ssl, "SimSiam/BYOL/SimCLR/MoCo v2 at one budget, then kNN and linear evaluation (docs/ssl.md)"),
    "label-efficiency": (label_efficiency, "supervised vs confidence PL vs UPS at few labels, per backbone init, full network"),
    "label-efficiency-frozen": (label_efficiency_frozen, "the same grid on frozen features: every seed and fraction in minutes, with ECE"),
    "active-learning": (active_learning, "simulated active learning on frozen features: query strategies vs random, HILL (+ UPS)"),
    "reid-lookalikes": (reid_lookalikes, "re-ID levers against look-alike cars (colour, make-model, crops), chosen on val"),
    "transfer": (transfer, "retraining on a user's folder: vehicle-type vs ImageNet vs scratch at 10-50 images per class"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, (module, help_text) in STUDIES.items():
        module.add_arguments(sub.add_parser(name, help=help_text, description=module.__doc__.split("\n\n")[0]))


def run(args: argparse.Namespace) -> int:
    return STUDIES[args.study][0].run(args)
