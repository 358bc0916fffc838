"""The label-efficiency study of issues 6 and 14, resumable: ``train-vehicle finetune`` with supervised-only,
confidence pseudo-labelling and UPS at several labelled fractions, each from every ``--inits`` start
(random, ImageNet, or a self-supervised checkpoint such as ImageNet + SimSiam), next to supervised
training on all labels. Writes
``RESULTS_<dataset>.json``, ``.md`` (table, pseudo-label precision per iteration, the command behind
every number) and two plots: test accuracy against the labelled fraction (one line per method and
init) and pseudo-label precision per iteration for PL vs UPS.

    nohup train-vehicle study label-efficiency --inits random ssl=runs/ssl-study/simsiam/backbone.pt --part 1/2 > runs/le-1.log 2>&1 &
    nohup train-vehicle study label-efficiency --inits random ssl=runs/ssl-study/simsiam/backbone.pt --part 2/2 > runs/le-2.log 2>&1 &
    # killed? the same commands continue; whichever part finishes last writes the report

Each run is a ``train-vehicle finetune`` subprocess with its own run directory: finished runs (with
``metrics.json``) are skipped, interrupted ones continue with ``--resume`` from their last iteration.
``--part K/N`` takes every N-th run, so N processes (``--threads 1`` each) share the cores.

The supervised-only row at a labelled fraction is not trained separately when the grid has a
pseudo-labelling method: the first iteration of a PL/UPS run *is* that model (labelled samples
only, same seed, same data order; checked in ``tests/test_label_efficiency_study.py``), so its
row is read from there.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from vehiclekit.models.factory import BACKBONES
from vehiclekit.training.studies import number_list
from vehiclekit.training.ups.finetune import METHODS

FULL = 1.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=("vehicle-types", "stanford-cars-body"), default="vehicle-types")
    p.add_argument("--fractions", type=_fractions, default=[0.05, 0.1, 0.2], help="comma-separated labelled fractions")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--inits", nargs="+", type=parse_init, default=[("random", None), ("ssl", "runs/ssl-study/simsiam/backbone.pt")],
                   metavar="INIT", help="backbone starts, one row group each: `random`, `imagenet` (the --arch's ImageNet "
                                        "weights) or LABEL=CHECKPOINT (a `train-vehicle pretrain` backbone.pt, e.g. "
                                        "imagenet+simsiam=runs/pretrain-simsiam-imagenet-f6-lr002/backbone.pt)")
    p.add_argument("--arch", choices=sorted(BACKBONES), default="resnet18-half", help="backbone of the random/imagenet inits")
    p.add_argument("--lr", type=float, default=0.03, help="peak SGD learning rate of every run (see `train-vehicle finetune`)")
    p.add_argument("--img-size", type=int, default=64, help="64: the SSL backbone's pretraining resolution")
    p.add_argument("--iterations", type=int, default=2, help="pseudo-labelling iterations (the first trains on labels only)")
    p.add_argument("--epochs-per-iteration", type=int, default=8)
    p.add_argument("--full-label-epochs", type=int, default=8, help="epochs of the all-labels supervised reference")
    p.add_argument("--min-samples-per-epoch", type=int, default=6144,
                   help="see `train-vehicle finetune --help`; 6144 x 8 epochs = 768 SGD steps for every model of the grid")
    p.add_argument("--class-balance-iterations", type=int, default=2,
                   help="PL and UPS balance their pseudo-labels per class in the first N selections (UPS's early-iteration balancing)")
    p.add_argument("--unlabeled", metavar="DIR|SHARDS",
                   help="more unlabelled images for the pseudo-labelling runs' pool (a folder or shards of "
                        "`train-vehicle harvest`; see `finetune --unlabeled`)")
    p.add_argument("--threads", type=int, default=1, help="per process")
    p.add_argument("--part", default="1/1", help="K/N: run every N-th run starting at the K-th (parallel processes)")
    p.add_argument("--out", default="runs/label-efficiency", help="run directories (one folder per dataset)")
    p.add_argument("--results", default="docs/studies/label_efficiency", help="writes RESULTS_<dataset>.{json,md} and plots")


def _fractions(text: str) -> list[float]:
    return number_list(text, "--fractions", "0.05,0.1,0.2", lambda v: all(0 < x < 1 for x in v),
                       "labelled fractions must lie in (0, 1)")


def parse_init(text: str) -> tuple[str, str | None]:
    """``random``, ``imagenet`` or ``LABEL=CHECKPOINT`` as (label, what ``finetune --init`` gets)."""
    if text in ("random", "imagenet"):
        return text, None if text == "random" else "imagenet"
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError("--inits wants random, imagenet or LABEL=CHECKPOINT "
                                         f"(e.g. imagenet+simsiam=runs/pretrain/backbone.pt), got {text!r}")
    return label, path


def plan(args: argparse.Namespace) -> list[dict]:
    """Every run of the grid: name, init, method, fraction and its ``train-vehicle`` argv."""
    methods = [m for m in args.methods if m != "supervised" or m == supervised_source(args.methods)]
    runs = []
    for init_name, init in args.inits:
        cells = [(m, f) for f in args.fractions for m in methods] + [("supervised", FULL)]
        for method, fraction in cells:
            name = f"{init_name}-{method}-{fraction:g}"
            full = fraction == FULL
            argv = ["finetune", "--dataset", args.dataset, "--method", method, "--labels-fraction", f"{fraction:g}",
                    "--arch", args.arch, "--lr", f"{args.lr:g}", "--img-size", str(args.img_size), "--iterations", str(args.iterations),
                    "--epochs-per-iteration", str(args.full_label_epochs if full else args.epochs_per_iteration),
                    "--min-samples-per-epoch", str(args.min_samples_per_epoch),
                    "--class-balance-iterations", str(args.class_balance_iterations),
                    "--threads", str(args.threads), "--workers", "0", "--out", str(Path(args.out) / args.dataset / name)]
            argv += ["--init", init] if init else []
            argv += ["--unlabeled", args.unlabeled] if args.unlabeled and method != "supervised" else []
            runs.append({"name": name, "init": init_name, "method": method, "fraction": fraction, "argv": argv})
    return runs


def supervised_source(methods: list[str]) -> str:
    """The run whose first iteration gives the supervised-only row (``supervised`` itself when the
    grid has no pseudo-labelling method)."""
    return next((m for m in ("ups", "pseudo-label") if m in methods), "supervised")


def part_of(runs: list[dict], part: str) -> list[dict]:
    """The runs of ``part`` ``"K/N"``: every N-th, starting at the K-th (1-based)."""
    try:
        k, n = (int(v) for v in part.split("/"))
    except ValueError:
        raise SystemExit(f"--part wants K/N like 1/2, got {part!r}") from None
    if not 1 <= k <= n:
        raise SystemExit(f"--part K/N needs 1 <= K <= N, got {part!r}")
    return runs[k - 1::n]


def run(args: argparse.Namespace) -> int:
    for label, init in args.inits:
        if init not in (None, "imagenet") and not Path(init).exists():
            raise SystemExit(f"--inits {label}: checkpoint {init} not found: pretrain one first "
                             "(`train-vehicle pretrain` or `study ssl`) or give another LABEL=CHECKPOINT")
    runs = plan(args)
    for r in part_of(runs, args.part):
        run_dir = _run_dir(r)
        if (run_dir / "metrics.json").exists():
            continue
        argv = ["finetune", "--resume", "--out", str(run_dir)] if (run_dir / "last.pt").exists() else r["argv"]
        command = [sys.executable, "-m", "vehiclekit.training.cli", *argv]
        print(f"[{runs.index(r) + 1}/{len(runs)}] {r['name']}\n+ {shlex.join(command)}", flush=True)
        subprocess.run(command, check=True)  # noqa: S603 - our own train-vehicle argument list, no shell

    missing = [r["name"] for r in runs if not (_run_dir(r) / "metrics.json").exists()]
    if missing:
        print(f"{len(missing)} runs belong to other parts or are unfinished ({', '.join(missing)}); "
              "the last part to finish writes the report (or rerun without --part)")
        return 0
    results = collect(args, runs)
    stem = f"{args.results}_{args.dataset}"
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(f"{stem}.md").write_text(markdown(results, Path(stem).name))
    plot_accuracy(results, Path(f"{stem}.png"))
    plot_precision(results, Path(f"{stem}_precision.png"))
    print(f"wrote {stem}.json, {stem}.md, {stem}.png and {stem}_precision.png")
    return 0


def _run_dir(r: dict) -> Path:
    return Path(r["argv"][r["argv"].index("--out") + 1])


def collect(args: argparse.Namespace, runs: list[dict]) -> dict:
    rows = []
    for r in runs:
        metrics = json.loads((_run_dir(r) / "metrics.json").read_text())
        history = json.loads((_run_dir(r) / "history.json").read_text())
        rows.append({k: r[k] for k in ("name", "init", "method", "fraction")} | {
            "test_acc": metrics["test"]["accuracy"], "val_acc": metrics["val"]["accuracy"],
            "best_iteration": metrics["best_iteration"], "labeled": metrics["labeled"],
            "minutes": round(sum(h["seconds"] for h in history) / 60, 1),
            "iterations": [{"iteration": h["iteration"], "test_acc": h["test_acc"], "val_acc": h["val_acc"], "seconds": h["seconds"],
                            "trained_on": h["trained_on"], "selection": _without_histogram(h["selection"])} for h in history],
            "command": "train-vehicle " + shlex.join(r["argv"])})
    source = supervised_source(args.methods)
    if "supervised" in args.methods and source != "supervised":
        rows += [_first_iteration(row) for row in rows if row["method"] == source and row["fraction"] != FULL]
    budget = {k: getattr(args, k) for k in ("dataset", "arch", "lr", "img_size", "iterations", "epochs_per_iteration",
                                            "full_label_epochs", "min_samples_per_epoch", "class_balance_iterations")}
    budget["inits"] = dict(args.inits)
    return {"budget": budget, "fractions": args.fractions, "rows": rows}


def _first_iteration(row: dict) -> dict:
    """The supervised-only row hidden in the first iteration of a pseudo-labelling run."""
    first = row["iterations"][0]
    return row | {"name": f"{row['init']}-supervised-{row['fraction']:g}", "method": "supervised",
                  "test_acc": first["test_acc"], "val_acc": first["val_acc"], "best_iteration": 0,
                  "minutes": round(first["seconds"] / 60, 1),
                  "iterations": [first | {"selection": None}], "command": f"{row['command']}  # iteration 0"}


def _without_histogram(selection: dict | None) -> dict | None:
    return None if selection is None else {k: v for k, v in selection.items() if k != "class_histogram"}


def _cell(rows: list[dict], init: str, method: str, fraction: float) -> dict | None:
    return next((r for r in rows if (r["init"], r["method"], r["fraction"]) == (init, method, fraction)), None)


def markdown(results: dict, stem: str) -> str:
    b, rows, fractions = results["budget"], results["rows"], results["fractions"]
    lines = [
        f"# Label efficiency on {b['dataset']}",
        "",
        (f"Test accuracy (committed test split; the model of the iteration with the best val accuracy). "
         f"{b['arch']} at {b['img_size']} px, peak lr {b['lr']:g}; PL and UPS: {b['iterations']} iterations of {b['epochs_per_iteration']} "
         f"epochs (the first trains on the labelled fraction only); supervised: one round of {b['epochs_per_iteration']} "
         f"epochs, all labels {b['full_label_epochs']} epochs; an epoch draws at least {b['min_samples_per_epoch']} samples; "
         f"pseudo-labels class-balanced in the first {b['class_balance_iterations']} selections. Inits: " + _inits_text(b['inits']) + ". "
         "Generated by `train-vehicle study label-efficiency`."),
        "",
        "| init | method | " + " | ".join(f"{f:.0%} labels" for f in fractions) + " | all labels |",
        "|---|---|" + "---|" * (len(fractions) + 1),
    ]
    for init in b["inits"]:
        full = _cell(rows, init, "supervised", FULL)
        for method in [m for m in METHODS if any(r["method"] == m for r in rows)]:
            cells = [_cell(rows, init, method, f) for f in fractions]
            tail = f"{full['test_acc']:.4f}" if method == "supervised" else ""
            lines.append(f"| {init} | {method} | " + " | ".join(f"{c['test_acc']:.4f}" if c else "–" for c in cells) + f" | {tail} |")
    for init in b["inits"]:
        ups10, full = _cell(rows, init, "ups", 0.1), _cell(rows, init, "supervised", FULL)
        if ups10 and full:
            lines += ["", (f"{init} init + UPS at 10 % labels: {ups10['test_acc']:.4f} = {ups10['test_acc'] / full['test_acc']:.1%} "
                           f"of the all-labels accuracy with the same init ({full['test_acc']:.4f}). "
                           "Issue target: ≥ 97 % of it and ≥ 0.95 absolute.")]
    lines += ["", f"![accuracy vs labelled fraction]({stem}.png)", "", "## Pseudo-labels per iteration", "",
              ("Selected from the unlabelled rest of the train split after each iteration (what the next one trains "
               "on), scored against the hidden true labels. *Top-n by confidence*: precision of the same number "
               "of samples picked by the same model's deterministic confidence alone, without class balancing "
               "(the matched-size comparison)."), "",
              "| run | after iteration | positive | precision | top-n by confidence | negative labels | negative precision | test acc of iteration |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for h in r["iterations"]:
            s = h["selection"]
            if s is None:
                continue
            lines.append(f"| {r['name']} | {h['iteration']} | {s['positive']} / {s['pool']} | {_num(s['positive_precision'])} | "
                         f"{_num(s.get('confidence_top_n_precision'))} | {s['negative']} | {_num(s['negative_precision'])} | {h['test_acc']:.4f} |")
    lines += ["", f"![pseudo-label precision]({stem}_precision.png)", "", "## Commands", ""]
    lines += [f"- {r['name']} ({r['minutes']} min): `{r['command']}`" for r in rows]
    return "\n".join(lines) + "\n"


def _inits_text(inits: dict) -> str:
    return ", ".join(f"{label} (`{path}`)" if path not in (None, "imagenet") else label for label, path in inits.items())


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def plot_accuracy(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, fractions = results["rows"], results["fractions"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    colors = {"supervised": "tab:gray", "pseudo-label": "tab:blue", "ups": "tab:red"}
    for init, style in zip(results["budget"]["inits"], ("--", "-", ":", "-.")):
        for method, color in colors.items():
            cells = [(f, _cell(rows, init, method, f)) for f in fractions]
            points = [(f * 100, c["test_acc"]) for f, c in cells if c]
            if points:
                ax.plot(*zip(*points), style, marker="o", color=color, label=f"{method} ({init} init)")
        full = _cell(rows, init, "supervised", FULL)
        if full:
            ax.axhline(full["test_acc"], color="black", linestyle=style, linewidth=0.8, label=f"all labels ({init} init)")
    ax.set_xlabel("labelled fraction of the train split (%)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{results['budget']['dataset']}: accuracy vs labels")
    ax.set_xticks([f * 100 for f in fractions])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_precision(results: dict, path: Path) -> None:
    """Positive pseudo-label precision against the number selected, per iteration, PL vs UPS, with the
    confidence top-n precision at UPS's count as the matched reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inits = list(results["budget"]["inits"])
    fig, axes = plt.subplots(1, len(inits), figsize=(4.5 * len(inits), 3.8), dpi=110, sharey=True, squeeze=False)
    markers = {0.01: "^", 0.05: "v", 0.1: "o", 0.2: "s"}
    for ax, init in zip(axes[0], inits):
        for r in results["rows"]:
            if r["init"] != init or r["method"] not in ("pseudo-label", "ups"):
                continue
            sel = [h["selection"] for h in r["iterations"] if h["selection"] and h["selection"]["positive"]]
            if not sel:
                continue
            color = "tab:red" if r["method"] == "ups" else "tab:blue"
            marker = markers.get(r["fraction"], "o")
            ax.plot([s["positive"] for s in sel], [s["positive_precision"] for s in sel], "-", marker=marker, color=color,
                    label=f"{r['method']} {r['fraction']:.0%}")
            if r["method"] == "ups":
                ax.plot([s["positive"] for s in sel], [s["confidence_top_n_precision"] for s in sel], ":", marker=marker,
                        color="tab:purple", fillstyle="none", label=f"top-n confidence at UPS's n, {r['fraction']:.0%}")
        ax.set_title(f"{init} init")
        ax.set_xlabel("positive pseudo-labels selected")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    axes[0][0].set_ylabel("precision (hidden true labels)")
    fig.suptitle(f"{results['budget']['dataset']}: pseudo-label precision per iteration", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
