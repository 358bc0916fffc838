"""`train-vehicle study active-learning`: the simulation's wiring of the query strategies and UPS on
constructed features, and a report that shows the measured numbers."""

import argparse
import json

import numpy as np
import pytest
import torch

from feature_blobs import blob_features
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.studies import active_learning as al

CFG = al.HeadConfig(steps=100)


def features(spread: float) -> al.Features:
    return blob_features(spread, pool_per_class=150)


def test_kcenter_query_covers_the_cluster_nothing_labelled_lies_in():
    x = torch.cat([torch.randn(50, 8) * 0.1 + 5 * torch.eye(8)[0], torch.randn(50, 8) * 0.1 - 5 * torch.eye(8)[0]])
    feats = al.Features(x, torch.zeros(100, dtype=torch.long), x, torch.zeros(100, dtype=torch.long), ("a",))
    labelled = np.zeros(100, bool)
    labelled[:3] = True  # all in the first cluster
    picks = al.query("kcenter", None, feats, labelled, 2, 0, CFG)
    assert picks[0] >= 50  # farthest from the labelled centres: the other cluster
    assert not labelled[picks].any()


@pytest.mark.parametrize("strategy", al.STRATEGIES)
def test_simulation_grows_the_labelled_set_and_accuracy(strategy):
    feats = features(spread=1.5)
    budgets = [1.0, 5.0, 20.0]
    run = al.simulate(feats, strategy, 0, budgets, CFG)
    assert [r["labelled"] for r in run["rounds"]] == [6, 30, 120]
    assert len(set(run["order"])) == 120  # nobody is asked twice
    start = al.simulate(feats, "random", 0, budgets, CFG)["order"][:6]
    assert run["order"][:6] == start  # every strategy of a seed starts from the same random set
    accuracy = [r["accuracy"] for r in run["rounds"]]
    assert accuracy[-1] > accuracy[0] and accuracy[-1] > 0.8, accuracy


def test_pseudo_labels_on_separable_features_are_many_and_right():
    feats = features(spread=0.5)
    result = al.with_pseudo_labels(feats, list(range(0, 600, 30)), 0, CFG)  # 20 human labels, 5 per class
    assert result["pseudo_labels"] > 300
    assert result["pseudo_precision"] > 0.95
    assert result["accuracy"] > 0.95


@pytest.mark.slow
def test_report_shows_the_measured_numbers(tmp_path, monkeypatch):
    feats = features(spread=1.5)
    monkeypatch.setattr(al, "cached_features", lambda task, init, checkpoint, cache, data: (feats, "blobs"))
    monkeypatch.setattr(al, "HeadConfig", lambda: CFG)
    assert train_vehicle(["study", "active-learning", "--tasks", "vehicle-types", "--inits", "random", "ssl",
                          "--budgets", "2,10", "--seeds", "2", "--docs", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "active_learning_vehicle-types.json").read_text())
    text = (tmp_path / "active_learning_vehicle-types.md").read_text()
    assert list(results["inits"]) == ["random"]  # ssl skipped without --ssl-init
    r = results["inits"]["random"]
    for name, s in r["strategies"].items():
        cells = " | ".join(al.cell(m, d) for m, d in zip(s["accuracy_mean"], s["accuracy_std"]))
        assert f"| {name} | {cells} |" in text
    seeds = [r["runs"][seed]["margin"][1]["accuracy"] for seed in ("0", "1")]
    assert r["strategies"]["margin"]["accuracy_mean"][1] == pytest.approx(np.mean(seeds))
    assert r["hill"]["strategy"] in al.UNCERTAINTY_STRATEGIES
    assert f"HILL: {r['hill']['strategy']} + UPS" in text
    assert al.beats_random_sentence(r["beats_random"]) in text
    assert (tmp_path / "active_learning_vehicle-types.png").stat().st_size > 10_000


def test_beats_random_needs_disjoint_error_bars():
    summaries = {"random": {"accuracy_mean": [0.5, 0.6], "accuracy_std": [0.01, 0.02]},
                 "margin": {"accuracy_mean": [0.5, 0.63], "accuracy_std": [0.01, 0.02]},
                 "bald": {"accuracy_mean": [0.5, 0.7], "accuracy_std": [0.01, 0.02]}}
    assert al.beats_random(summaries, [1.0, 5.0]) == [{"strategy": "bald", "budget": 5.0, "gain": pytest.approx(0.1)}]


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        train_vehicle(["study", "active-learning", "--help"])
    assert exit_.value.code == 0
    assert "--ssl-init" in capsys.readouterr().out


def test_budgets_must_increase():
    with pytest.raises(argparse.ArgumentTypeError, match="increasing"):
        al._budgets("5,2")
