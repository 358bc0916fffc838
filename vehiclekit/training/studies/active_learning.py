"""A simulated active-learning study: which query strategy picks the images most worth a person's
label, and does HILL (human labels for the uncertain + UPS pseudo-labels for the confident) beat both.

Frozen features + a linear head, so the whole grid runs on one CPU core. Per task and backbone init
the train split is the unlabelled pool (its true labels hidden until "a person" labels a pick) and
the test split scores every model. Per (strategy, seed): a seeded random 1 % of the pool is labelled
(not stratified, the same for every strategy of that seed), then each round trains the head, scores
the test split and queries the next batch, growing the labelled set to each ``--budgets`` % of the
pool. Strategies (:mod:`vehiclekit.training.active.strategies`): random; entropy, margin,
least-confidence and BALD on ``T`` MC-dropout passes of the head (Gal, Islam, Ghahramani, "Deep
Bayesian Active Learning with Image Data", ICML 2017); k-center greedy core-set on the L2-normalised
features with the labelled set as initial centres (Sener & Savarese, "Active Learning for
Convolutional Neural Networks: A Core-Set Approach", ICLR 2018).

HILL at each budget, after Bengar et al., "Reducing Label Effort: Self-Supervised meets Active
Learning", ICCV-W 2021 (self-supervised features + active learning), with UPS pseudo-labels (Rizve et
al., "In Defense of Pseudo-Labeling: An Uncertainty-Aware Pseudo-label Selection Framework for
Semi-Supervised Learning", ICLR 2021; :func:`~vehiclekit.training.ups.selection.select_pseudo_labels`,
positive labels only): the human labels of the best uncertainty strategy (highest mean test accuracy
over the budgets after the first), the head trained on them selects UPS pseudo-labels from the rest
of the pool, and a head retrained on both is scored; next to it "human only" (the same labels) and
"UPS + random labels" (the same with the random strategy's labels), with the pseudo-labels' precision
against the hidden true labels.

    OMP_NUM_THREADS=1 train-vehicle study active-learning --inits random imagenet
    # features are cached in --out; a rerun only repeats the (cheap) simulation

Writes ``DOCS/active_learning_<task>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vehiclekit.training.active.strategies import (
    UNCERTAINTY_STRATEGIES,
    kcenter_greedy,
    random_ranking,
    rank,
    uncertainty_scores,
)
from vehiclekit.training.studies import number_list
from vehiclekit.training.studies.frozen_features import (
    TASKS,
    Features,
    HeadConfig,
    cached_features,
    mc_logits,
    score,
    train_head,
)
from vehiclekit.training.ups.selection import select_pseudo_labels, selection_stats, softmax_stats

INITS = ("random", "imagenet", "ssl")
STRATEGIES = ("random", "entropy", "margin", "least-confidence", "bald", "kcenter")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["vehicle-types", "vehicle-type-v2"])
    p.add_argument("--inits", nargs="+", choices=INITS, default=list(INITS),
                   help="random: resnet18-half random init (seeded); imagenet: efficientnet-lite0 ImageNet weights; "
                        "ssl: the --ssl-init checkpoint (skipped without one)")
    p.add_argument("--ssl-init", help="backbone checkpoint of `train-vehicle pretrain` (backbone.pt or last.pt)")
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument("--budgets", type=_budgets, default=[1.0, 2.0, 5.0, 10.0, 20.0],
                   help="cumulative labelled %% of the pool, comma-separated; the first is the random start")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (initial set, head training, MC dropout)")
    p.add_argument("--data", help="data root (default: $VEHICLEKIT_DATA or ../shared/data)")
    p.add_argument("--out", default="runs/frozen-features", help="feature cache (shared with `study label-efficiency-frozen`)")
    p.add_argument("--docs", default="docs/studies", help="writes active_learning_<task>.{json,md,png} here")


def _budgets(text: str) -> list[float]:
    return number_list(text, "--budgets", "1,2,5", lambda v: all(0 < x <= 100 for x in v) and v == sorted(set(v)),
                       "budgets must be increasing percentages in (0, 100]")


# ---------------------------------------------------------------- the simulation
def budget_sizes(pool: int, budgets: list[float]) -> list[int]:
    return [max(1, round(pool * b / 100)) for b in budgets]


def query(strategy: str, head: nn.Module, feats: Features, labelled: np.ndarray, k: int, seed: int,
          cfg: HeadConfig) -> np.ndarray:
    """The next ``k`` pool indices ``strategy`` asks a person to label (``labelled``: boolean mask)."""
    if strategy == "random":
        return random_ranking(len(labelled), k, seed, exclude=labelled)  # the seed's permutation, continued
    if strategy == "kcenter":
        return kcenter_greedy(nn.functional.normalize(feats.pool, dim=1).numpy(), k, labelled, seed)
    probs = torch.softmax(mc_logits(head, feats.pool, cfg.mc_passes), -1).numpy()
    return rank(uncertainty_scores(strategy, probs), k, exclude=labelled)


def simulate(feats: Features, strategy: str, seed: int, budgets: list[float], cfg: HeadConfig) -> dict:
    """One active-learning run: per budget the test scores of the head trained on the labelled set,
    and ``order``, the pool indices in the order they were labelled."""
    n = len(feats.pool)
    sizes = budget_sizes(n, budgets)
    order = random_ranking(n, sizes[0], seed)
    rounds = []
    for i, size in enumerate(sizes):
        head = train_head(feats.pool[order], feats.pool_labels[order], feats.num_classes, seed, cfg)
        rounds.append({"budget": budgets[i], "labelled": size} | score(head, feats))
        if i + 1 < len(sizes):
            labelled = np.zeros(n, bool)
            labelled[order] = True
            order = np.concatenate([order, query(strategy, head, feats, labelled, sizes[i + 1] - size, seed, cfg)])
    return {"rounds": rounds, "order": order.tolist()}


def with_pseudo_labels(feats: Features, human: list[int], seed: int, cfg: HeadConfig) -> dict:
    """The head trained on ``human`` labels selects UPS pseudo-labels from the rest of the pool; a head
    retrained on both is scored. Returns its test scores and the selection's count and precision."""
    human_t = torch.as_tensor(human)
    head = train_head(feats.pool[human_t], feats.pool_labels[human_t], feats.num_classes, seed, cfg)
    rest = torch.ones(len(feats.pool), dtype=torch.bool)
    rest[human_t] = False
    mean, std = softmax_stats(mc_logits(head, feats.pool[rest], cfg.mc_passes))
    sel = select_pseudo_labels(mean, std, tau_p=cfg.tau_p, kappa_p=cfg.kappa_p)
    stats = selection_stats(sel, feats.pool_labels[rest], feats.num_classes)
    x = torch.cat([feats.pool[human_t], feats.pool[rest][sel.positive]])
    y = torch.cat([feats.pool_labels[human_t], sel.labels[sel.positive]])
    retrained = train_head(x, y, feats.num_classes, seed, cfg)
    return score(retrained, feats) | {"pseudo_labels": stats["positive"], "pseudo_precision": stats["positive_precision"]}


def hill(feats: Features, runs: dict, strategy: str, budgets: list[float], cfg: HeadConfig, desc: str) -> dict:
    """Per seed and budget: ``strategy``'s human labels + UPS ("hill") and the random strategy's + UPS
    ("random+ups"), from the labelling orders of the simulation ``runs``."""
    sizes = budget_sizes(len(feats.pool), budgets)
    out: dict = {"hill": {}, "random+ups": {}}
    for seed, name in tqdm([(seed, name) for seed in runs for name in out], desc=desc):
        order = runs[seed][strategy if name == "hill" else "random"]["order"]
        out[name][seed] = [{"budget": b} | with_pseudo_labels(feats, order[:size], seed, cfg) for b, size in zip(budgets, sizes)]
    return out


# ---------------------------------------------------------------- summaries
def mean_std(per_seed: list[list[dict]], key: str) -> tuple[list[float], list[float]]:
    """Mean and sample std (ddof 1; 0 for one seed) over seeds of ``key`` at each budget."""
    values = np.array([[r[key] for r in rounds] for rounds in per_seed], dtype=float)
    return values.mean(0).tolist(), values.std(0, ddof=min(1, len(values) - 1)).tolist()


def summarise(per_seed: list[list[dict]]) -> dict:
    acc, acc_std = mean_std(per_seed, "accuracy")
    f1, f1_std = mean_std(per_seed, "macro_f1")
    return {"accuracy_mean": acc, "accuracy_std": acc_std, "macro_f1_mean": f1, "macro_f1_std": f1_std}


def best_uncertainty(summaries: dict) -> str | None:
    """The uncertainty strategy with the highest test accuracy averaged over the budgets after the
    (shared, random) first one."""
    candidates = [s for s in UNCERTAINTY_STRATEGIES if s in summaries]
    return max(candidates, key=lambda s: np.mean(summaries[s]["accuracy_mean"][1:]), default=None)


def beats_random(summaries: dict, budgets: list[float]) -> list[dict]:
    """(strategy, budget) cells whose error bar lies wholly above random's: mean - std > random mean + std."""
    if "random" not in summaries:
        return []
    ref = summaries["random"]
    wins = []
    for name, s in summaries.items():
        for i, b in enumerate(budgets):
            low, high = s["accuracy_mean"][i] - s["accuracy_std"][i], ref["accuracy_mean"][i] + ref["accuracy_std"][i]
            if name != "random" and low > high:
                wins.append({"strategy": name, "budget": b, "gain": s["accuracy_mean"][i] - ref["accuracy_mean"][i]})
    return wins


def study_init(feats: Features, args: argparse.Namespace, cfg: HeadConfig, desc: str) -> dict:
    """Every strategy and seed on one (task, init), then HILL; raw runs and summaries."""
    seeds = range(args.seeds)
    strategies = list(dict.fromkeys(["random", *args.strategies]))  # HILL's reference needs random
    runs: dict = {seed: {} for seed in seeds}
    for seed, strategy in tqdm([(s, st) for s in seeds for st in strategies], desc=desc):
        runs[seed][strategy] = simulate(feats, strategy, seed, args.budgets, cfg)
    summaries = {s: summarise([runs[seed][s]["rounds"] for seed in seeds]) for s in strategies}
    result = {"strategies": summaries, "beats_random": beats_random(summaries, args.budgets),
              "runs": {seed: {s: r["rounds"] for s, r in by_strategy.items()} for seed, by_strategy in runs.items()}}
    best = best_uncertainty(summaries)
    if best:
        h = hill(feats, runs, best, args.budgets, cfg, f"{desc} HILL ({best})")
        result["hill"] = {"strategy": best} | {
            name: summarise(list(h[name].values())) | {"pseudo_labels_mean": mean_std(list(h[name].values()), "pseudo_labels")[0],
                                                       "pseudo_precision_mean": _precision_means(h[name]), "runs": h[name]}
            for name in ("hill", "random+ups")}
    return result


def _precision_means(per_seed: dict) -> list[float | None]:
    """Mean pseudo-label precision over the seeds that selected any, per budget."""
    columns = zip(*[[r["pseudo_precision"] for r in rounds] for rounds in per_seed.values()])
    return [float(np.mean([v for v in col if v is not None])) if any(v is not None for v in col) else None for col in columns]


# ---------------------------------------------------------------- report
def cell(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _budget_header(budgets: list[float]) -> list[str]:
    return ["| | " + " | ".join(f"{b:g} %" for b in budgets) + " |", "|---|" + "---|" * len(budgets)]


def markdown(results: dict) -> str:
    task, budgets, cfg = results["task"], results["budgets"], results["head"]
    lines = [f"# Active learning on {task} (simulated)", "",
             (f"Pool: the train split, {results['pool']} images ({len(results['classes'])} classes); scored on the test "
              f"split ({results['test']} images). Frozen features at {results['size']} px, standardised; a dropout "
              f"({cfg['dropout']}) + linear head trained full-batch with Adam (lr {cfg['lr']}, weight decay "
              f"{cfg['weight_decay']}, {cfg['steps']} steps). Start: a seeded random {budgets[0]:g} % of the pool; "
              f"uncertainty strategies on {cfg['mc_passes']} MC-dropout passes of the head; kcenter on the "
              f"L2-normalised features. Cells: test accuracy %, mean ± std over {results['seeds']} seeds; columns: "
              "labelled % of the pool (std: sample std over seeds). Generated by `train-vehicle study active-learning`."), ""]
    for init, r in results["inits"].items():
        lines += [f"## {init} init ({r['arch']})", "", *_budget_header(budgets)]
        for name, s in r["strategies"].items():
            lines.append(f"| {name} | " + " | ".join(cell(m, d) for m, d in zip(s["accuracy_mean"], s["accuracy_std"])) + " |")
        lines += ["", "Macro-F1 %:", "", *_budget_header(budgets)]
        for name, s in r["strategies"].items():
            lines.append(f"| {name} | " + " | ".join(cell(m, d) for m, d in zip(s["macro_f1_mean"], s["macro_f1_std"])) + " |")
        if "hill" in r:
            lines += ["", *_hill_table(r, budgets, cfg)]
        lines += ["", beats_random_sentence(r["beats_random"]), ""]
    lines += [f"![test accuracy vs labelled %](active_learning_{task}.png)"]
    return "\n".join(lines) + "\n"


def _hill_table(r: dict, budgets: list[float], cfg: dict) -> list[str]:
    h, best = r["hill"], r["hill"]["strategy"]
    rows = [(f"human only ({best})", r["strategies"][best]), (f"HILL: {best} + UPS", h["hill"]),
            ("human only (random)", r["strategies"]["random"]), ("random + UPS", h["random+ups"])]
    lines = [(f"HILL with {best}, the best uncertainty strategy here: UPS positive pseudo-labels (tau_p {cfg['tau_p']}, "
              f"kappa_p {cfg['kappa_p']}) from the rest of the pool, head retrained on human + pseudo labels. "
              "Test accuracy %, then pseudo-labels selected and their precision (mean over seeds):"), "",
             *_budget_header(budgets)]
    lines += [f"| {name} | " + " | ".join(cell(m, d) for m, d in zip(s["accuracy_mean"], s["accuracy_std"])) + " |"
              for name, s in rows]
    for name in ("hill", "random+ups"):
        counts, precision = h[name]["pseudo_labels_mean"], h[name]["pseudo_precision_mean"]
        lines.append(f"| {name} pseudo-labels (precision) | " + " | ".join(
            f"{n:.0f} ({'–' if p is None else f'{100 * p:.1f} %'})" for n, p in zip(counts, precision)) + " |")
    return lines


def beats_random_sentence(wins: list[dict]) -> str:
    if not wins:
        return "No strategy beats random by more than the error bars (mean − std above random's mean + std) at any budget."
    parts = [f"{w['strategy']} at {w['budget']:g} % (+{100 * w['gain']:.1f} points)" for w in wins]
    return "Beats random by more than the error bars (mean − std above random's mean + std): " + "; ".join(parts) + "."


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inits = results["inits"]
    fig, axes = plt.subplots(1, len(inits), figsize=(5.2 * len(inits), 4.2), dpi=110, squeeze=False, sharey=True)
    for ax, (init, r) in zip(axes[0], inits.items()):
        lines = dict(r["strategies"])
        if "hill" in r:
            lines[f"HILL ({r['hill']['strategy']} + UPS)"] = r["hill"]["hill"]
        for name, s in lines.items():
            ax.errorbar(results["budgets"], [100 * v for v in s["accuracy_mean"]], [100 * v for v in s["accuracy_std"]],
                        marker="o", capsize=3, label=name, linestyle="--" if name.startswith("HILL") else "-")
        ax.set_xscale("log")
        ax.set_xticks(results["budgets"], [f"{b:g}" for b in results["budgets"]])
        ax.set_title(f"{init} init ({r['arch']})")
        ax.set_xlabel("labelled % of the pool")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("test accuracy %")
    fig.suptitle(f"{results['task']}: active learning, mean ± std over {results['seeds']} seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cfg = HeadConfig()
    inits = [i for i in args.inits if i != "ssl" or args.ssl_init]
    if "ssl" in args.inits and not args.ssl_init:
        print("ssl init skipped: no --ssl-init PATH (a `train-vehicle pretrain` backbone checkpoint)")
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        results: dict = {"task": task, "budgets": args.budgets, "seeds": args.seeds, "size": TASKS[task][1],
                         "head": vars(cfg), "ssl_init": args.ssl_init, "inits": {}}
        for init in inits:
            feats, arch = cached_features(task, init, args.ssl_init if init == "ssl" else None, Path(args.out), args.data)
            results |= {"pool": len(feats.pool), "test": len(feats.test), "classes": list(feats.classes)}
            results["inits"][init] = {"arch": arch} | study_init(feats, args, cfg, f"{task} {init}")
        stem = docs / f"active_learning_{task}"
        Path(f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
        Path(f"{stem}.md").write_text(markdown(results))
        plot(results, Path(f"{stem}.png"))
        print(f"wrote {stem}.json, .md, .png")
    return 0
