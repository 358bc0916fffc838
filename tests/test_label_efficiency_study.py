"""`train-vehicle study label-efficiency`: the grid it plans, how parts split it, the report it writes."""

import argparse

import pytest

from vehiclekit.training.studies import label_efficiency as le


def _args(*extra):
    parser = argparse.ArgumentParser()
    le.add_arguments(parser)
    return parser.parse_args(["--inits", "random", "ssl=ssl.pt", *extra])


def test_plan_is_methods_by_fractions_by_init_plus_all_labels():
    runs = le.plan(_args("--fractions", "0.05,0.2", "--epochs-per-iteration", "7", "--full-label-epochs", "9"))
    assert len(runs) == 2 * (2 * 2 + 1)  # supervised-only rows come from the UPS runs' first iteration
    assert len({r["name"] for r in runs}) == len(runs)
    for r in runs:
        argv = r["argv"]
        assert ("--init" in argv) == (r["init"] == "ssl")
        assert argv[argv.index("--init") + 1] == "ssl.pt" if r["init"] == "ssl" else True
        epochs = argv[argv.index("--epochs-per-iteration") + 1]
        assert epochs == ("9" if r["fraction"] == 1.0 else "7")
        assert argv[argv.index("--method") + 1] == r["method"]
    assert {r["fraction"] for r in runs if r["method"] != "supervised"} == {0.05, 0.2}
    assert {r["fraction"] for r in runs if r["method"] == "supervised"} == {1.0}
    alone = le.plan(_args("--fractions", "0.05", "--methods", "supervised"))
    assert [(r["method"], r["fraction"]) for r in alone] == [("supervised", 0.05), ("supervised", 1.0)] * 2


def test_parts_are_disjoint_and_cover_the_grid():
    runs = le.plan(_args())
    parts = [le.part_of(runs, f"{k}/3") for k in (1, 2, 3)]
    names = [r["name"] for p in parts for r in p]
    assert sorted(names) == sorted(r["name"] for r in runs)
    with pytest.raises(SystemExit, match="K/N"):
        le.part_of(runs, "3/2")


def test_bad_fractions_say_what_is_expected():
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated"):
        le._fractions("5%,10%")
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 1\)"):
        le._fractions("0.1,1.5")


def test_report_table_ratio_and_plots(tmp_path):
    args = _args("--fractions", "0.1")
    rows = []
    for i, r in enumerate(le.plan(args)):
        selection = None if r["method"] == "supervised" else {
            "positive": 10 + i, "positive_precision": 0.9, "confidence_top_n_precision": 0.8, "negative": 3,
            "negative_precision": 1.0, "negative_samples": 2, "pool": 100}
        iterations = [{"iteration": 0, "test_acc": 0.4 + i / 100, "val_acc": 0.5, "seconds": 60, "trained_on": {},
                       "selection": selection}]
        rows.append({k: r[k] for k in ("name", "init", "method", "fraction")} | {
            "test_acc": 0.5 + i / 100, "val_acc": 0.5, "iterations": iterations, "minutes": 1.0, "command": "x"})
    rows += [le._first_iteration(r) for r in rows if r["method"] == "ups" and r["fraction"] != 1.0]
    results = {"budget": {"dataset": "vehicle-types", "arch": "resnet18-half", "lr": 0.03, "img_size": 64, "iterations": 3, "epochs_per_iteration": 12,
                          "full_label_epochs": 24, "min_samples_per_epoch": 1536,
                          "class_balance_iterations": 2, "inits": dict(args.inits)}, "fractions": [0.1], "rows": rows}
    text = le.markdown(results, "le")
    ssl_ups, ssl_full = le._cell(rows, "ssl", "ups", 0.1), le._cell(rows, "ssl", "supervised", 1.0)
    assert f"| ssl | ups | {ssl_ups['test_acc']:.4f} |" in text
    assert f"| ssl | supervised | {ssl_ups['iterations'][0]['test_acc']:.4f} |" in text  # UPS's first iteration
    assert f"{ssl_ups['test_acc'] / ssl_full['test_acc']:.1%}" in text
    assert text.count("| 0 | 1") == 4  # one selection row per PL/UPS run
    le.plot_accuracy(results, tmp_path / "a.png")
    le.plot_precision(results, tmp_path / "p.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000 and (tmp_path / "p.png").stat().st_size > 10_000


def test_inits_name_imagenet_and_checkpoints_and_reject_unlabelled_paths():
    runs = le.plan(_args("--fractions", "0.1", "--methods", "ups"))
    assert {r["init"] for r in runs} == {"random", "ssl"}
    args = argparse.ArgumentParser()
    le.add_arguments(args)
    parsed = args.parse_args(["--inits", "imagenet", "imagenet+simsiam=b.pt", "--arch", "efficientnet-lite0", "--lr", "0.01"])
    by_init = {r["init"]: r["argv"] for r in le.plan(parsed)}
    assert by_init["imagenet"][by_init["imagenet"].index("--init") + 1] == "imagenet"
    assert by_init["imagenet+simsiam"][by_init["imagenet+simsiam"].index("--init") + 1] == "b.pt"
    assert all(a[a.index("--arch") + 1] == "efficientnet-lite0" and a[a.index("--lr") + 1] == "0.01" for a in by_init.values())
    for bad in ("b.pt", "=b.pt", "ssl="):
        with pytest.raises(argparse.ArgumentTypeError, match="LABEL=CHECKPOINT"):
            le.parse_init(bad)


def test_unlabeled_shards_join_the_pseudo_labelling_runs_only():
    runs = le.plan(_args("--fractions", "0.1", "--methods", "ups", "pseudo-label", "--unlabeled", "runs/corpus/cam7"))
    for r in runs:
        argv = r["argv"]
        if r["method"] == "supervised":
            assert "--unlabeled" not in argv
        else:
            assert argv[argv.index("--unlabeled") + 1] == "runs/corpus/cam7"
    assert {r["method"] for r in runs} == {"ups", "pseudo-label", "supervised"}
