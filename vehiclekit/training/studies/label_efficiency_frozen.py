"""Label efficiency on frozen features: supervised-only, confidence pseudo-labelling and UPS at
1-20 % labels, per backbone init, every seed, with calibration and pseudo-label precision per
iteration. The full-network version (``study label-efficiency``) costs ~20 min per cell on this
CPU; this one runs the whole grid in minutes because the backbone runs once per image
(:mod:`~vehiclekit.training.studies.frozen_features`).

Per (task, init, seed, labelled fraction): a stratified seeded fraction of the train split is
labelled (:func:`~vehiclekit.training.core.datasets.label_subset`), the rest is the unlabelled pool
whose true labels are only used to score the pseudo-labels. Iteration 0 trains the dropout + linear
head on the labels (the supervised-only row); each later iteration selects pseudo-labels from the
pool with the previous head and retrains a fresh head on labels + pseudo-labels:

- ``pseudo-label``: max probability ≥ 0.70 (Lee, "Pseudo-Label", ICML-W 2013);
- ``ups``: Rizve et al., "In Defense of Pseudo-Labeling: An Uncertainty-Aware Pseudo-label Selection
  Framework for Semi-Supervised Learning", ICLR 2021: MC-dropout mean ≥ 0.70 and std < 0.05 for
  positives, mean < 0.05 and std < 0.005 (temperature 2) for negatives, negative-learning loss.

Both are class-balanced in the first two selections, as in ``train-vehicle finetune``. Calibration:
expected calibration error of the head on the test split (Guo et al., ICML 2017), because the UPS
paper's gain over confidence comes from badly calibrated networks. Next to every selection, the
precision of the same number of pool samples picked by confidence alone (the matched comparison).

    train-vehicle study label-efficiency-frozen --inits random imagenet \\
        imagenet+simsiam=runs/pretrain-simsiam-imagenet-f6-lr002/backbone.pt

Writes ``DOCS/label_efficiency_frozen_<task>.{json,md,png}`` and ``..._precision.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vehiclekit.training.core.datasets import label_subset
from vehiclekit.training.core.metrics import expected_calibration_error
from vehiclekit.training.studies import number_list
from vehiclekit.training.studies.frozen_features import TASKS, Features, HeadConfig, cached_features, mc_logits, score, train_head
from vehiclekit.training.studies.label_efficiency import parse_init
from vehiclekit.training.ups.selection import (
    Selection,
    select_confident,
    select_pseudo_labels,
    selection_stats,
    softmax_stats,
    top_n_precision,
)

METHODS = ("pseudo-label", "ups")        # the supervised-only row is every run's iteration 0
#: UPS / pseudo-label settings of ``train-vehicle finetune``'s defaults.
TAU_N, KAPPA_N, TEMP_NL, CONFIDENCE, BALANCED_SELECTIONS = 0.05, 0.005, 2.0, 0.70, 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    p.add_argument("--inits", nargs="+", type=parse_init, default=[("random", None), ("imagenet", "imagenet")], metavar="INIT",
                   help="random (resnet18-half), imagenet (efficientnet-lite0) or LABEL=CHECKPOINT (`train-vehicle pretrain`), "
                        "or LABEL=MODEL (a trained classifier's backbone: vehicle-type@2=vehicle-type@2). A rerun into the same "
                        "--docs keeps the inits its last report of the same grid holds and computes only the new ones")
    p.add_argument("--fractions", type=_fractions, default=[0.01, 0.05, 0.1, 0.2], help="comma-separated labelled fractions")
    p.add_argument("--iterations", type=int, default=4, help="head trainings per run; the first uses the labels only")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (labelled subset, head init, dropout)")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", default="runs/frozen-features", help="feature cache (shared with `study active-learning`)")
    p.add_argument("--docs", default="docs/studies", help="writes label_efficiency_frozen_<task>.{json,md,png} here")


def _fractions(text: str) -> list[float]:
    return number_list(text, "--fractions", "0.01,0.1", lambda v: all(0 < x < 1 for x in v) and v == sorted(set(v)),
                       "labelled fractions must increase and lie in (0, 1)")


def calibrated_score(head: torch.nn.Module, feats: Features) -> dict:
    """:func:`score` plus the test split's expected calibration error."""
    with torch.no_grad():
        probs = torch.softmax(head(feats.test), 1)
    confidence, predicted = probs.max(1)
    ece = expected_calibration_error(confidence.tolist(), (predicted == feats.test_labels).tolist())
    return score(head, feats) | {"ece": ece}


def select(method: str, head: torch.nn.Module, x: torch.Tensor, probs: torch.Tensor, iteration: int, cfg: HeadConfig) -> Selection:
    """The pseudo-labels ``head`` gives the pool features ``x`` (``probs``: its deterministic softmax on them)."""
    balance = iteration < BALANCED_SELECTIONS
    if method == "ups":
        logits = mc_logits(head, x, cfg.mc_passes)
        mean, std = softmax_stats(logits)
        neg_mean, neg_std = softmax_stats(logits, TEMP_NL)
        return select_pseudo_labels(mean, std, cfg.tau_p, TAU_N, cfg.kappa_p, KAPPA_N, neg_mean, neg_std, class_balance=balance)
    return select_confident(probs, CONFIDENCE, class_balance=balance)


def run_one(feats: Features, method: str, fraction: float, seed: int, iterations: int, cfg: HeadConfig) -> list[dict]:
    """One semi-supervised run; per iteration what the head trained on, its test scores and the
    selection it then makes (None after the last)."""
    labelled = torch.as_tensor(label_subset(feats.pool_labels.tolist(), fraction, seed))
    rest = torch.ones(len(feats.pool), dtype=torch.bool)
    rest[labelled] = False
    pool_x, pool_truth = feats.pool[rest], feats.pool_labels[rest]
    sel = Selection(torch.zeros(len(pool_x), dtype=torch.bool), torch.zeros(len(pool_x), dtype=torch.long),
                    torch.zeros(len(pool_x), feats.num_classes, dtype=torch.bool))
    history = []
    for it in range(iterations):
        neg_only = sel.negative.any(1) & ~sel.positive
        x = torch.cat([feats.pool[labelled], pool_x[sel.positive], pool_x[neg_only]])
        y = torch.cat([feats.pool_labels[labelled], sel.labels[sel.positive], torch.full((int(neg_only.sum()),), -1)])
        negative = None
        if method == "ups":
            negative = torch.cat([torch.zeros(len(labelled) + int(sel.positive.sum()), feats.num_classes, dtype=torch.bool),
                                  sel.negative[neg_only]])
        head = train_head(x, y, feats.num_classes, seed * 1000 + it, cfg, negative)
        entry = {"iteration": it, "labelled": len(labelled), "positive": int(sel.positive.sum()),
                 "negative_only": int(neg_only.sum())} | calibrated_score(head, feats)
        if it + 1 < iterations:
            with torch.no_grad():
                probs = torch.softmax(head(pool_x), 1)
            sel = select(method, head, pool_x, probs, it, cfg)
            stats = selection_stats(sel, pool_truth, feats.num_classes)
            entry["selection"] = {k: v for k, v in stats.items() if k != "class_histogram"} | {
                "confidence_top_n_precision": top_n_precision(probs, pool_truth, stats["positive"])}
        history.append(entry)
    return history


def study(feats: Features, fractions: list[float], seeds: int, iterations: int, cfg: HeadConfig, desc: str) -> dict:
    """Every method, fraction and seed on one (task, init), plus the all-labels head per seed."""
    runs: dict = {m: {f"{f:g}": {} for f in fractions} for m in METHODS}
    for method, fraction, seed in tqdm([(m, f, s) for m in METHODS for f in fractions for s in range(seeds)], desc=desc):
        runs[method][f"{fraction:g}"][str(seed)] = run_one(feats, method, fraction, seed, iterations, cfg)
    full = [calibrated_score(train_head(feats.pool, feats.pool_labels, feats.num_classes, seed * 1000, cfg), feats)
            for seed in range(seeds)]
    return {"runs": runs, "all_labels": full, "summary": summarise(runs, full, fractions)}


def _mean_std(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def domain_keys(scores: dict) -> list[str]:
    """The per-test-domain accuracy keys of a score (``accuracy_day``...), in the task's order."""
    return [k for k in scores if k.startswith("accuracy_")]


def summarise(runs: dict, full: list[dict], fractions: list[float]) -> dict:
    """Mean ± std over seeds: supervised-only (iteration 0 of the UPS runs), PL and UPS after their last
    iteration, the all-labels head; accuracy (also per test domain) and ECE."""
    keys = ("accuracy", "ece", *domain_keys(full[0]))
    out: dict = {"all_labels": {k: _mean_std([r[k] for r in full]) for k in keys}}
    for name, method, pick in (("supervised", "ups", 0), ("pseudo-label", "pseudo-label", -1), ("ups", "ups", -1)):
        out[name] = {f"{f:g}": {k: _mean_std([h[pick][k] for h in runs[method][f"{f:g}"].values()]) for k in keys}
                     for f in fractions}
    return out


# ---------------------------------------------------------------- report
def _cell(s: dict, key: str = "accuracy") -> str:
    return f"{100 * s[key]['mean']:.1f} ± {100 * s[key]['std']:.1f}"


def markdown(results: dict) -> str:
    task, fractions, cfg = results["task"], results["fractions"], results["head"]
    header = ["| init | method | " + " | ".join(f"{f:.0%} labels" for f in fractions) + " | all labels |",
              "|---|---|" + "---|" * (len(fractions) + 1)]
    lines = [f"# Label efficiency on {task}, frozen features", "",
             (f"Pool: the train split, {results['pool']} images ({len(results['classes'])} classes); scored on the test split "
              f"({results['test']} images). Frozen backbone features at {results['size']} px, standardised; a dropout "
              f"({cfg['dropout']}) + linear head, Adam (lr {cfg['lr']}, weight decay {cfg['weight_decay']}, "
              f"{cfg['steps']} steps of {cfg['batch_size'] or 'all'} rows) per iteration, {results['iterations']} iterations (the first on the labels only). "
              f"Cells: test accuracy %, mean ± std over {results['seeds']} seeds (labelled subset, head init, dropout). "
              "PL and UPS: after the last iteration. Generated by `train-vehicle study label-efficiency-frozen`."), "",
             "## Test accuracy", "", *header]
    for init, r in results["inits"].items():
        s = r["summary"]
        for method in ("supervised", "pseudo-label", "ups"):
            tail = _cell(s["all_labels"]) if method == "supervised" else ""
            lines.append(f"| {init} ({r['arch']}) | {method} | " + " | ".join(_cell(s[method][f"{f:g}"]) for f in fractions)
                         + f" | {tail} |")
    first = next(iter(results["inits"].values()))["summary"]["all_labels"]
    for key in domain_keys(first):
        lines += ["", f"## Test accuracy, {key.removeprefix('accuracy_')} domain only", "", *header]
        for init, r in results["inits"].items():
            s = r["summary"]
            for method in ("supervised", "pseudo-label", "ups"):
                tail = _cell(s["all_labels"], key) if method == "supervised" else ""
                lines.append(f"| {init} | {method} | " + " | ".join(_cell(s[method][f"{f:g}"], key) for f in fractions) + f" | {tail} |")
    lines += ["", "## Calibration (expected calibration error %, 15 bins, test split)", "", *header]
    for init, r in results["inits"].items():
        s = r["summary"]
        for method in ("supervised", "pseudo-label", "ups"):
            tail = _cell(s["all_labels"], "ece") if method == "supervised" else ""
            lines.append(f"| {init} | {method} | " + " | ".join(_cell(s[method][f"{f:g}"], "ece") for f in fractions) + f" | {tail} |")
    lines += ["", target_sentence(results), "", f"![accuracy vs labels](label_efficiency_frozen_{task}.png)", "",
              "## Pseudo-labels per iteration (seed 0)", "",
              ("Positive pseudo-labels selected from the pool after each iteration, their precision against the hidden "
               "true labels, and the precision of the same number picked by the same head's confidence alone (matched count)."), "",
              "| init | method | labels | after iteration | positive | precision | top-n by confidence | negative labels | negative precision |",
              "|---|---|---|---|---|---|---|---|---|"]
    for init, r in results["inits"].items():
        for method in METHODS:
            for f in fractions:
                for h in r["runs"][method][f"{f:g}"]["0"]:
                    s = h.get("selection")
                    if s:
                        lines.append(f"| {init} | {method} | {f:.0%} | {h['iteration']} | {s['positive']} / {s['pool']} | "
                                     f"{_pct(s['positive_precision'])} | {_pct(s['confidence_top_n_precision'])} | "
                                     f"{s['negative']} | {_pct(s['negative_precision'])} |")
    lines += ["", f"![pseudo-label precision](label_efficiency_frozen_{task}_precision.png)"]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def target_sentence(results: dict) -> str:
    """The target at 10 % labels (issues 14 and 31) for the init whose UPS does best there: UPS's share
    of the all-labels accuracy, and whether UPS >= PL >= supervised holds beyond seed noise."""
    if "0.1" not in {f"{f:g}" for f in results["fractions"]}:
        return "10 % labels not in this grid: no target check."
    init, r = max(results["inits"].items(), key=lambda kv: kv[1]["summary"]["ups"]["0.1"]["accuracy"]["mean"])
    ups, full = r["summary"]["ups"]["0.1"]["accuracy"]["mean"], r["summary"]["all_labels"]["accuracy"]["mean"]
    steps = [f"{a} − {b}: {paired_interval(r['runs'], a, b, '0.1')}" for a, b in (("ups", "pseudo-label"), ("pseudo-label", "supervised"))]
    return (f"Best init at 10 % labels: {init}, UPS {100 * ups:.1f} % = {ups / full:.1%} of its all-labels accuracy "
            f"({100 * full:.1f} %): the ≥ 97 % target is {'met' if ups >= 0.97 * full else 'not met'}. Paired differences "
            f"over the seeds (mean, 95 % t-interval, points): {'; '.join(steps)}.")


def paired_interval(runs: dict, a: str, b: str, fraction: str) -> str:
    """Mean and 95 % t-interval of ``a``'s minus ``b``'s test accuracy over seeds sharing a labelled
    subset (``supervised``: iteration 0 of the UPS run), and whether the interval excludes 0."""
    from scipy import stats

    def accuracy(method: str, seed: str) -> float:
        history = runs["ups" if method == "supervised" else method][fraction][seed]
        return history[0 if method == "supervised" else -1]["accuracy"]

    d = np.array([accuracy(a, s) - accuracy(b, s) for s in runs["ups"][fraction]]) * 100
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
    verdict = "above 0" if d.mean() - half > 0 else "below 0" if d.mean() + half < 0 else "within seed noise"
    return f"{d.mean():+.1f} [{d.mean() - half:+.1f}, {d.mean() + half:+.1f}] ({verdict})"


def plot(results: dict, path: Path, precision_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inits, fractions = results["inits"], results["fractions"]
    xs = [100 * f for f in fractions]
    colors = {"supervised": "tab:gray", "pseudo-label": "tab:blue", "ups": "tab:red"}
    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 3.9), dpi=110, sharey=True, squeeze=False)
    for ax, (init, r) in zip(axes[0], inits.items()):
        s = r["summary"]
        for method, color in colors.items():
            ax.errorbar(xs, [100 * s[method][f"{f:g}"]["accuracy"]["mean"] for f in fractions],
                        [100 * s[method][f"{f:g}"]["accuracy"]["std"] for f in fractions], marker="o", capsize=3, color=color, label=method)
        ax.axhline(100 * s["all_labels"]["accuracy"]["mean"], color="black", linewidth=0.8, linestyle="--", label="all labels")
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.set_title(f"{init} ({r['arch']})", fontsize=9)
        ax.set_xlabel("labelled % of the train split")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy %")
    fig.suptitle(f"{results['task']}: frozen features, mean ± std over {results['seeds']} seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 3.9), dpi=110, sharey=True, squeeze=False)
    for ax, (init, r) in zip(axes[0], inits.items()):
        for method, color in (("pseudo-label", "tab:blue"), ("ups", "tab:red")):
            for f, marker in zip(fractions, "^vos"):
                sel = [h["selection"] for h in r["runs"][method][f"{f:g}"]["0"] if h.get("selection") and h["selection"]["positive"]]
                if sel:
                    ax.plot([s["positive"] for s in sel], [100 * s["positive_precision"] for s in sel], "-", marker=marker,
                            color=color, label=f"{method} {f:.0%}")
                    if method == "ups":
                        ax.plot([s["positive"] for s in sel], [100 * s["confidence_top_n_precision"] for s in sel], ":",
                                marker=marker, fillstyle="none", color="tab:purple", label=f"confidence, UPS's count, {f:.0%}")
        ax.set_title(f"{init}", fontsize=9)
        ax.set_xlabel("positive pseudo-labels selected")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("precision % (hidden true labels)")
    fig.suptitle(f"{results['task']}: pseudo-label precision per iteration (seed 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(precision_path)
    plt.close(fig)


def finished_inits(report: Path, results: dict) -> dict:
    """The inits of an earlier report of the same grid (task, fractions, seeds, iterations, head), so a
    rerun with more ``--inits`` only computes the new ones; the report's pool/test sizes go into ``results``."""
    if not report.is_file():
        return {}
    earlier = json.loads(report.read_text())
    if any(earlier.get(k) != results[k] for k in ("task", "fractions", "seeds", "iterations", "size", "head")):
        return {}
    results |= {k: earlier[k] for k in ("pool", "test", "classes")}
    return earlier["inits"]


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cfg = HeadConfig(steps=300, batch_size=256)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        results: dict = {"task": task, "fractions": args.fractions, "seeds": args.seeds, "iterations": args.iterations,
                         "size": TASKS[task][1], "head": vars(cfg), "inits": {}}
        stem = docs / f"label_efficiency_frozen_{task}"
        done = finished_inits(Path(f"{stem}.json"), results)
        for label, init in args.inits:
            checkpoint = None if init in (None, "imagenet") else init
            if done.get(label, {}).get("checkpoint", "") == checkpoint:
                results["inits"][label] = done[label]       # same grid, same backbone: kept from the last report
                continue
            feats, arch = cached_features(task, label, checkpoint, Path(args.out), args.data)
            results |= {"pool": len(feats.pool), "test": len(feats.test), "classes": list(feats.classes)}
            results["inits"][label] = {"arch": arch, "checkpoint": checkpoint} | study(
                feats, args.fractions, args.seeds, args.iterations, cfg, f"{task} {label}")
        Path(f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
        Path(f"{stem}.md").write_text(markdown(results))
        plot(results, Path(f"{stem}.png"), Path(f"{stem}_precision.png"))
        print(f"wrote {stem}.json, .md, .png, _precision.png\n{target_sentence(results)}")
    return 0
