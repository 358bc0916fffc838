"""Did self-supervised pretraining move the weights, or only the BatchNorm statistics?

For a ``train-vehicle pretrain --init imagenet`` run: per block stage, the largest relative change
‖W − W_ImageNet‖ / ‖W_ImageNet‖ of any weight tensor and how many running-statistics buffers
changed; and, with ``--adabn-out``, the AdaBN control (Li et al., "Revisiting Batch Normalization
For Practical Domain Adaptation", 2016): the ImageNet weights with only the run's BatchNorm running
statistics, saved as a backbone checkpoint that every ``--init`` / ``--inits LABEL=PATH`` accepts. If
the control scores like the run, what the run "learned" is the statistics (docs/results.md §21).

    python benchmarks/ssl_weight_change.py runs/new-camera/ssl/simsiam-f3/backbone.pt \\
        --adabn-out runs/new-camera/ssl/adabn-simsiam-f3/backbone.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

from vehiclekit.models.factory import build_backbone
from vehiclekit.training.core.checkpoint import load_checkpoint, save_atomic

STATISTICS = ("running_mean", "running_var")


def stage_of(name: str) -> str:
    """``net.blocks.3.1.conv_pw.weight`` -> ``blocks.3``; ``net.conv_stem.weight`` -> ``conv_stem``."""
    parts = name.removeprefix("net.").split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


def weight_change(run: dict, reference: dict) -> dict:
    """Per stage: the largest relative change of a weight tensor and the changed statistics buffers."""
    stages: dict = defaultdict(lambda: {"max_relative_change": 0.0, "tensors": 0, "statistics_changed": 0})
    for name, value in run.items():
        ref = reference[name]
        stage = stages[stage_of(name)]
        if name.endswith(STATISTICS):
            stage["statistics_changed"] += int(not torch.equal(value, ref))
        elif value.is_floating_point():
            stage["tensors"] += 1
            change = float((value - ref).norm() / ref.norm().clamp_min(1e-12))
            stage["max_relative_change"] = max(stage["max_relative_change"], change)
    return dict(stages)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backbone", type=Path, help="a `train-vehicle pretrain --init imagenet` run's backbone.pt")
    p.add_argument("--adabn-out", type=Path, help="write the AdaBN control checkpoint here")
    args = p.parse_args(argv)
    checkpoint = load_checkpoint(args.backbone)
    reference = build_backbone(checkpoint["arch"], imagenet=True).state_dict()
    stages = weight_change(checkpoint["backbone"], reference)
    report = {"backbone": str(args.backbone), "arch": checkpoint["arch"], "stages": stages,
              "max_relative_change": max(s["max_relative_change"] for s in stages.values())}
    if args.adabn_out:
        control = {k: checkpoint["backbone"][k] if k.endswith(STATISTICS) else v for k, v in reference.items()}
        args.adabn_out.parent.mkdir(parents=True, exist_ok=True)
        save_atomic({"backbone": control, "arch": checkpoint["arch"]}, args.adabn_out)
        report["adabn_control"] = str(args.adabn_out)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
