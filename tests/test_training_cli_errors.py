"""Every `train-vehicle` command meets an obviously bad argument (a path that does not exist, a file
that is not what it should be, a backbone without ImageNet weights) with a non-zero exit and a
one-line message naming the problem, never a traceback, and before any training starts.

Commands stop either through ``main`` (``train-vehicle CMD: error: ...``, exit 2) or with
``SystemExit("message")``, which Python prints as one line to stderr (exit 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vehiclekit.paths import REPO_ROOT, data_root
from vehiclekit.training.cli import COMMANDS
from vehiclekit.training.cli import main as train_vehicle


def _cases(tmp: Path) -> dict[str, list[tuple[list[str], str]]]:
    """command -> [(argv after the command, text the message must contain)]."""
    missing, junk, images, out = tmp / "missing", tmp / "junk.pt", tmp / "images", tmp / "out"
    video = data_root() / "videos" / "parking-lot-top-down.mp4"       # a real source, to reach the later checks
    return {
        "supervised": [(["--images", str(missing), "--out", str(out)], str(missing)),
                       (["--init", "imagenet", "--arch", "resnet18-half", "--out", str(out)], "no ImageNet weights")],
        "export": [([str(missing), "-o", str(tmp / "model.onnx")], str(missing / "best.pt"))],
        "evaluate-type": [(["--model", str(missing) + ".onnx", "--out", str(out)], str(missing) + ".onnx")],
        "evaluate-attributes": [(["--model", str(missing) + ".onnx", "--out", str(out)], str(missing) + ".onnx")],
        "evaluate-detector": [(["--data", str(missing)], str(missing))],
        "detector": [(["--data", str(missing), "--out", str(out)], str(missing)),
                     (["--size", "600", "--out", str(out)], "--size and --crop must be multiples of 32"),
                     (["--distill", "-1", "--out", str(out)], "--distill is a loss weight")],
        "study": [(["label-efficiency", "--inits", f"ssl={missing}.pt", "--out", str(out)], f"{missing}.pt not found")],
        "make-splits": [(["--data", str(missing)], str(missing))],
        "pretrain": [(["--method", "simsiam", "--images", str(missing), "--out", str(out)], str(missing)),
                     (["--method", "simsiam", "--init", "imagenet", "--arch", "resnet18-half", "--images", str(images),
                       "--out", str(out)], "--arch resnet18-half has no ImageNet weights; use one of efficientnet-lite0"),
                     (["--method", "simsiam", "--checkpoint-every", "-2", "--out", str(out)], "--checkpoint-every wants a number of steps")],
        "evaluate": [(["--protocol", "knn", "--init", str(missing) + ".pt", "--out", str(tmp / "e.json")],
                      f"{missing}.pt does not exist"),
                     (["--protocol", "knn", "--init", str(junk), "--out", str(tmp / "e.json")],
                      f"{junk} is not a checkpoint")],
        "reid": [(["--images", str(missing), "--out", str(out)], str(missing))],
        "finetune": [(["--images", str(missing), "--out", str(out)], str(missing))],
        "select": [(["--model", "vehicle-type", "--pool", str(missing), "--budget", "5", "-o", str(tmp / "queue.json")],
                    str(missing))],
        "score": [([str(missing), "--out", str(out)], f"{missing} does not exist")],
        "harvest": [([str(missing), "--out", str(out)], f"{missing} is neither a video file, a folder of frames nor a stream URL"),
                    ([str(video), "--max-distance", "64", "--out", str(out)], "--max-distance must be -1 (keep all) to 63 bits"),
                    ([str(video), "--dedup-against", str(missing), "--out", str(out)], f"shards {missing}: 1 missing")],
        "import-labels": [([str(missing) + ".csv", "--by", "tester", "--store", str(tmp / "labels.db")], str(missing) + ".csv")],
        "quantize": [(["--model", str(missing) + ".onnx"], str(missing) + ".onnx")],
        "evaluate-reid": [([str(missing)], str(missing / "best.pt"))],
    }


def test_every_command_has_a_bad_argument_case(tmp_path):
    assert set(_cases(tmp_path)) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_argument_is_a_one_line_error(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                                  # nothing a command writes lands in the repo
    (tmp_path / "junk.pt").write_text("not a checkpoint\n")
    (tmp_path / "images").mkdir()
    for argv, says in _cases(tmp_path)[command]:
        capsys.readouterr()
        try:
            status = train_vehicle([command, *argv])
            message = capsys.readouterr().err.strip()
        except SystemExit as stop:                               # how the console script would end
            err = capsys.readouterr().err.strip()
            status = stop.code if isinstance(stop.code, int) else 1
            message = "\n".join(filter(None, [err, "" if isinstance(stop.code, int) else str(stop.code)]))
        # any other exception escapes main here and fails the test: a traceback in the console
        assert status not in (0, None), (argv, message)
        assert "Traceback" not in message
        assert says in message, (argv, message)
        assert "\n" not in message, message                    # one line


def test_pretrain_init_imagenet_defaults_to_the_imagenet_backbone(tmp_path):
    """`pretrain --method simsiam --init imagenet` without --arch: efficientnet-lite0 (the shipped
    models' backbone), which the method builds from its ImageNet weights; before, resnet18-half, and
    a traceback once the data was decoded."""
    from vehiclekit.training.ssl.pretrain import METHODS, backbone_options

    out, images = tmp_path / "run", tmp_path / "images"
    # stops at the missing images folder, after writing the run's config
    assert train_vehicle(["pretrain", "--method", "simsiam", "--init", "imagenet", "--images", str(images / "none"),
                          "--out", str(out)]) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "efficientnet-lite0" and config["init"] == "imagenet"
    model = METHODS["simsiam"](config["arch"], **backbone_options(config))
    assert model.backbone is not None
    # without --init the default stays the random-start backbone
    assert train_vehicle(["pretrain", "--method", "simsiam", "--images", str(images / "none"), "--out", str(tmp_path / "r")]) == 2
    assert json.loads((tmp_path / "r" / "config.json").read_text())["arch"] == "resnet18-half"


def test_the_console_script_prints_no_traceback(tmp_path):
    """The real process: exit status and stderr as a user sees them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "vehiclekit.training.cli", "evaluate", "--protocol", "knn",
                             "--init", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "e.json")],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"train-vehicle evaluate: error: checkpoint {tmp_path / 'missing.pt'} does not exist"


@pytest.mark.parametrize("command", ["supervised", "finetune", "reid", "pretrain"])
def test_init_imagenet_without_arch_picks_the_imagenet_backbone_in_every_training(command):
    """One rule for every training command: --arch unset means efficientnet-lite0 with --init
    imagenet (the shipped models' backbone) and resnet18-half from a random start."""
    import argparse
    import importlib

    from vehiclekit.models.factory import resolve_arch

    parser = argparse.ArgumentParser()
    importlib.import_module(f"vehiclekit.training.{COMMANDS[command][0]}").add_arguments(parser)
    assert parser.get_default("arch") is None                      # resolved by the run, not by argparse
    assert resolve_arch(None, "imagenet") == "efficientnet-lite0" and resolve_arch(None, None) == "resnet18-half"
    assert resolve_arch("efficientnet-lite2", "imagenet") == "efficientnet-lite2"
    with pytest.raises(SystemExit, match="resnet18 has no ImageNet weights"):
        resolve_arch("resnet18", "imagenet")
