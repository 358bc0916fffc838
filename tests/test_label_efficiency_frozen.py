"""`train-vehicle study label-efficiency-frozen`: ECE by hand, the pseudo-labelling loop on
constructed features, and a report that shows the measured numbers."""

import json

import numpy as np
import pytest
import torch

from feature_blobs import blob_features, blobs
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core.metrics import expected_calibration_error
from vehiclekit.training.studies import frozen_features as ff
from vehiclekit.training.studies import label_efficiency_frozen as lef

CFG = ff.HeadConfig(steps=100, batch_size=128)


def features(spread: float) -> ff.Features:
    return blob_features(spread, pool_per_class=200)


def test_ece_by_hand_and_against_numpy_bins():
    # bins of 0.1: (0.8, 0.9] holds 0.85 (right) and 0.87 (wrong): |1 - 1.72|; (0.5, 0.6] holds 0.55 (right):
    # |1 - 0.55|; (0.2, 0.3] holds 0.25 (wrong): |0 - 0.25|. ECE = (0.72 + 0.45 + 0.25) / 4
    assert expected_calibration_error([0.85, 0.87, 0.55, 0.25], [True, False, True, False], bins=10) == pytest.approx(0.355)
    assert expected_calibration_error([0.75] * 4, [True, True, True, False], bins=10) == pytest.approx(0.0)
    assert expected_calibration_error([], [], bins=10) == 0.0
    rng = np.random.default_rng(0)
    conf, ok = rng.uniform(0.2, 1.0, 500), rng.uniform(size=500) < 0.7
    bins = np.digitize(conf, np.linspace(0, 1, 16)[1:-1], right=True)
    expected = sum(abs(ok[bins == b].sum() - conf[bins == b].sum()) for b in range(15)) / 500
    assert expected_calibration_error(conf.tolist(), ok.tolist()) == pytest.approx(expected)


@pytest.mark.parametrize("method", lef.METHODS)
def test_pseudo_labelling_loop_trains_on_labels_first_then_on_its_selection(method):
    feats = features(spread=1.0)
    history = lef.run_one(feats, method, 0.05, 0, 3, CFG)
    assert [h["iteration"] for h in history] == [0, 1, 2]
    assert history[0]["labelled"] == 40 and history[0]["positive"] == 0 and history[0]["negative_only"] == 0
    first = history[0]["selection"]
    assert history[1]["positive"] == first["positive"] > 100 and first["pool"] == 760
    assert first["positive_precision"] > 0.9
    assert "selection" not in history[-1]  # nothing trains on a selection after the last iteration
    if method == "ups":
        assert first["negative"] > 0 and first["negative_precision"] > 0.99
    else:
        assert first["negative"] == 0 and history[1]["negative_only"] == 0
    assert history[-1]["accuracy"] > 0.9 and 0 <= history[-1]["ece"] < 0.2


def test_the_head_learns_from_negative_labels_alone():
    x, y = blobs(50, 0.3, seed=0, num_classes=2)
    negative = torch.zeros(len(y), 2, dtype=torch.bool)
    negative[torch.arange(len(y)), 1 - y] = True            # "not the other class" is all it is told
    head = ff.train_head(x, torch.full_like(y, -1), 2, 0, CFG, negative)
    assert (head(x).argmax(1) == y).float().mean() > 0.95


@pytest.mark.slow
def test_report_shows_the_measured_numbers(tmp_path, monkeypatch):
    feats = features(spread=1.2)
    monkeypatch.setattr(lef, "cached_features", lambda task, init, checkpoint, cache, data: (feats, "blobs"))
    monkeypatch.setattr(lef, "HeadConfig", lambda **_: CFG)
    assert train_vehicle(["study", "label-efficiency-frozen", "--tasks", "vehicle-types", "--inits", "random",
                          "ssl=some/backbone.pt", "--fractions", "0.05,0.1", "--seeds", "2", "--iterations", "2",
                          "--docs", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "label_efficiency_frozen_vehicle-types.json").read_text())
    text = (tmp_path / "label_efficiency_frozen_vehicle-types.md").read_text()
    assert list(results["inits"]) == ["random", "ssl"] and results["inits"]["ssl"]["checkpoint"] == "some/backbone.pt"
    r = results["inits"]["ssl"]
    supervised = [r["runs"]["ups"]["0.1"][seed][0]["accuracy"] for seed in ("0", "1")]
    assert r["summary"]["supervised"]["0.1"]["accuracy"]["mean"] == pytest.approx(np.mean(supervised))
    ups = [r["runs"]["ups"]["0.1"][seed][-1]["accuracy"] for seed in ("0", "1")]
    assert r["summary"]["ups"]["0.1"]["accuracy"]["mean"] == pytest.approx(np.mean(ups))
    row = " | ".join(lef._cell(r["summary"]["ups"][f]) for f in ("0.05", "0.1"))
    assert f"| ssl (blobs) | ups | {row} |  |" in text
    best = max(results["inits"].values(), key=lambda v: v["summary"]["ups"]["0.1"]["accuracy"]["mean"])
    at_10, full = best["summary"]["ups"]["0.1"]["accuracy"]["mean"], best["summary"]["all_labels"]["accuracy"]["mean"]
    verdict = "met" if at_10 >= 0.97 * full else "not met"
    assert lef.target_sentence(results) in text and f"the ≥ 97 % target is {verdict}. Paired" in lef.target_sentence(results)
    assert (tmp_path / "label_efficiency_frozen_vehicle-types.png").stat().st_size > 10_000
    assert (tmp_path / "label_efficiency_frozen_vehicle-types_precision.png").stat().st_size > 10_000


def test_paired_interval_by_hand():
    # three seeds; UPS beats PL by 2, 4 and 3 points: mean 3, std 1, t(0.975, 2) = 4.303 -> half width 2.48
    def runs_with(ups, pl, sup):
        return {"ups": {"0.1": {str(s): [{"accuracy": sup[s]}, {"accuracy": ups[s]}] for s in range(3)}},
                "pseudo-label": {"0.1": {str(s): [{"accuracy": 0.0}, {"accuracy": pl[s]}] for s in range(3)}}}
    runs = runs_with(ups=[0.72, 0.74, 0.73], pl=[0.70, 0.70, 0.70], sup=[0.70, 0.71, 0.69])
    assert lef.paired_interval(runs, "ups", "pseudo-label", "0.1") == "+3.0 [+0.5, +5.5] (above 0)"
    assert lef.paired_interval(runs, "pseudo-label", "supervised", "0.1").endswith("(within seed noise)")
    assert lef.paired_interval(runs, "supervised", "ups", "0.1").endswith("(below 0)")


def test_score_reports_each_test_domain():
    feats = features(spread=1.0)
    domains = tuple("day" if i % 3 else "night" for i in range(len(feats.test)))
    feats = ff.Features(feats.pool, feats.pool_labels, feats.test, feats.test_labels, feats.classes, domains)
    head = ff.train_head(feats.pool, feats.pool_labels, feats.num_classes, 0, CFG)
    s = ff.score(head, feats)
    right = (head(feats.test).argmax(1) == feats.test_labels).tolist()
    assert list(s) == ["accuracy", "macro_f1", "accuracy_night", "accuracy_day"]
    assert s["accuracy_night"] == pytest.approx(np.mean([r for r, d in zip(right, domains) if d == "night"]))
    assert s["accuracy_day"] == pytest.approx(np.mean([r for r, d in zip(right, domains) if d == "day"]))
    assert lef.domain_keys(s) == ["accuracy_night", "accuracy_day"]


def test_a_rerun_keeps_the_inits_of_the_last_report_of_the_same_grid(tmp_path):
    grid = {"task": "t", "fractions": [0.1], "seeds": 2, "iterations": 2, "size": 96, "head": {"steps": 300}}
    report = tmp_path / "r.json"
    report.write_text(json.dumps(grid | {"pool": 10, "test": 5, "classes": ["a", "b"],
                                         "inits": {"imagenet": {"checkpoint": None, "summary": {}}}}))
    results = grid | {"inits": {}}
    assert lef.finished_inits(report, results) == {"imagenet": {"checkpoint": None, "summary": {}}}
    assert results["pool"] == 10 and results["classes"] == ["a", "b"]
    assert lef.finished_inits(report, grid | {"seeds": 3, "inits": {}}) == {}
    assert lef.finished_inits(tmp_path / "missing.json", grid | {"inits": {}}) == {}
