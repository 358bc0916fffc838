"""The self-supervised comparison table of issue 4, resumable: every method pretrained with the same
budget (epochs, batch, resolution, backbone, unlabeled preset or harvested shards), then kNN and
linear evaluation on the vehicle-types and Stanford Cars body-type test splits, next to a
random-init backbone. Writes
``docs/studies/ssl_results.json`` and ``docs/studies/ssl_results.md`` (with the command behind every number).

    nohup train-vehicle study ssl --epochs 50 > runs/ssl-study.log 2>&1 &
    # killed or rebooted? the same command continues where it stopped

Each step is a ``train-vehicle`` subprocess. Finished steps are skipped (a pretraining run with its
``backbone.pt``, an evaluation with its JSON report); an interrupted pretraining run continues with
``--resume`` from its last epoch. ``--nproc N`` pretrains under ``torchrun`` (DDP) instead.
See docs/ssl.md for the budget.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

METHODS = ("simsiam", "byol", "simclr", "moco")
DATASETS = ("vehicle-types", "stanford-cars-body")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--arch", default="resnet18-half")
    corpus = p.add_mutually_exclusive_group()
    corpus.add_argument("--preset", default="pooled", help="the shared datasets' unlabeled preset (see `pretrain --preset`)")
    corpus.add_argument("--shards", metavar="SPEC",
                        help="pretrain on WebDataset shards of `train-vehicle harvest` instead (streamed; see docs/scale.md)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                   help="mid-epoch checkpoints of each pretraining run (see `pretrain --checkpoint-every`)")
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--protocols", nargs="+", choices=("knn", "linear", "finetune"), default=["knn", "linear"])
    p.add_argument("--threads", type=int, default=1, help="per process; 1 is fastest while other jobs share the 2 cores")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--nproc", type=int, default=1, help="pretrain under torchrun with N processes")
    p.add_argument("--out", default="runs/ssl-study", help="run directories and evaluation reports")
    p.add_argument("--results", default="docs/studies/ssl_results", help="writes RESULTS.json and RESULTS.md")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)

    backbones: dict[str, str | None] = {"random-init": None}
    pretrain_commands = {}
    for method in args.methods:
        run_dir = out / method
        corpus = ["--shards", args.shards] if args.shards else ["--preset", args.preset]
        argv = ["pretrain", "--method", method, *corpus, "--arch", args.arch, "--img-size", str(args.img_size),
                "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--eval-every", str(args.eval_every),
                "--threads", str(args.threads), "--workers", str(args.workers), "--out", str(run_dir)]
        argv += ["--checkpoint-every", str(args.checkpoint_every)] if args.checkpoint_every else []
        pretrain_commands[method] = _shown(argv, args.nproc)  # the command that reproduces the run
        if not (run_dir / "backbone.pt").exists():
            _run(["pretrain", "--resume", "--out", str(run_dir)] if (run_dir / "last.pt").exists() else argv, args.nproc)
        backbones[method] = str(run_dir / "backbone.pt")

    rows = []
    for name, init in backbones.items():
        row = {"backbone": name, "pretrain": _pretrain_summary(out / name) if init else None, "results": {}}
        for dataset in DATASETS:
            for protocol in args.protocols:
                report_path = out / "eval" / f"{name}-{dataset}-{protocol}.json"
                argv = ["evaluate", "--protocol", protocol, "--dataset", dataset, "--img-size", str(args.img_size),
                        "--threads", str(args.threads), "--out", str(report_path)]
                argv += ["--init", init] if init else ["--arch", args.arch]
                if not report_path.exists():
                    _run(argv, nproc=1)
                report = json.loads(report_path.read_text())
                row["results"][f"{dataset}/{protocol}"] = {
                    "test_acc": report["test"]["accuracy"], "val_acc": report["val"]["accuracy"], "command": _shown(argv, 1)}
        rows.append(row)

    budget = {k: getattr(args, k) for k in ("epochs", "batch_size", "img_size", "arch")}
    budget["corpus"] = f"shards {args.shards}" if args.shards else f"the `{args.preset}` unlabeled preset"
    results = {"budget": budget, "pretrain_commands": pretrain_commands, "rows": rows}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.results}.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(f"{args.results}.md").write_text(_markdown(results, args.protocols))
    print(f"wrote {args.results}.json and {args.results}.md")
    return 0


def _run(argv: list[str], nproc: int) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] if nproc > 1 else [sys.executable]
    command = [*launcher, "-m", "vehiclekit.training.cli", *argv]
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, check=True)  # noqa: S603 - our own train-vehicle argument list, no shell


def _shown(argv: list[str], nproc: int) -> str:
    launcher = f"torchrun --standalone --nproc_per_node {nproc} $(which train-vehicle)" if nproc > 1 else "train-vehicle"
    return f"{launcher} {shlex.join(argv)}"


def _pretrain_summary(run_dir: Path) -> dict:
    history = json.loads((run_dir / "history.json").read_text())
    trained = [h for h in history if "loss" in h]
    monitored = [h for h in history if "knn_acc" in h]
    return {"epochs": len(trained), "hours": round(sum(h["seconds"] for h in trained) / 3600, 2),
            "final_loss": trained[-1]["loss"], "images_per_s": trained[-1]["images_per_s"],
            "knn_val_init": monitored[0]["knn_acc"] if monitored else None,
            "knn_val_final": monitored[-1]["knn_acc"] if monitored else None,
            "collapse_z_final": monitored[-1]["collapse_z"] if monitored else None}


def _markdown(results: dict, protocols: list[str]) -> str:
    b = results["budget"]
    columns = [f"{d}/{p}" for d in DATASETS for p in protocols]
    lines = [
        "# Self-supervised pretraining: comparison at equal budget",
        "",
        f"Budget: {b['epochs']} epochs on {b['corpus']}, batch {b['batch_size']}, "
        f"{b['img_size']} px, `{b['arch']}`. Test accuracy (committed test splits); kNN: k = 200, cosine, "
        "exp(sim/0.1); linear: logistic regression on frozen features, L2 penalty chosen on val. "
        "Generated by `train-vehicle study ssl`.",
        "",
        "| backbone | pretraining (h) | final kNN val (init) | collapse z | " + " | ".join(columns) + " |",
        "|---|---|---|---|" + "---|" * len(columns),
    ]
    for row in results["rows"]:
        pre = row["pretrain"]
        pre_cells = ["–", "–", "–"] if pre is None else [
            f"{pre['hours']}", f"{pre['knn_val_final']:.3f} ({pre['knn_val_init']:.3f})" if pre["knn_val_final"] is not None else "–",
            f"{pre['collapse_z_final']:.2f}" if pre["collapse_z_final"] is not None else "–"]
        cells = [f"{row['results'][c]['test_acc']:.3f}" for c in columns]
        lines.append(f"| {row['backbone']} | " + " | ".join(pre_cells + cells) + " |")
    random_row = results["rows"][0]["results"]
    for row in results["rows"][1:]:
        key = "vehicle-types/linear"
        if key in random_row and key in row["results"]:
            gap = row["results"][key]["test_acc"] - random_row[key]["test_acc"]
            lines.append(f"\n{row['backbone']} linear on vehicle-types: {gap * 100:+.1f} points over random init.")
    lines += ["", "## Commands", ""]
    lines += [f"- pretrain {m}: `{c}`" for m, c in results["pretrain_commands"].items()]
    for row in results["rows"]:
        lines += [f"- {row['backbone']} {c}: `{r['command']}`" for c, r in row["results"].items()]
    return "\n".join(lines) + "\n"

