"""`vehiclekit serving build-repo` from the command line: what it writes, flags, and its refusal."""

from __future__ import annotations

import json
from pathlib import Path

from vehiclekit.cli import main
from vehiclekit.models import zoo
from vehiclekit.models.serving_contract import MODELS
from vehiclekit.serving.repository import MANIFEST


def test_build_repo_writes_every_model_of_the_chosen_flavor(tmp_path: Path, capsys):
    out = tmp_path / "repo"
    assert main(["serving", "build-repo", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"cpu-flavor model repository written to {out}"
    assert all((out / model / "config.pbtxt").is_file() for model in MODELS)
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["flavor"], manifest["precision"]) == ("cpu", "fp32")
    assert (out / "vehicle_type" / "1" / "model.onnx").read_bytes() == zoo.get("vehicle-type").path.read_bytes()

    assert main(["serving", "build-repo", str(out), "--precision", "int8"]) == 0
    assert json.loads((out / MANIFEST).read_text())["precision"] == "int8"     # its own repository: rebuilt
    assert (out / "vehicle_type" / "1" / "model.onnx").read_bytes() != zoo.get("vehicle-type").path.read_bytes()
    assert main(["serving", "build-repo", str(out), "--flavor", "gpu", "--no-tensorrt"]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert (manifest["flavor"], manifest["tensorrt"]) == ("gpu", False)
    assert "KIND_GPU" in (out / "vehicle_type" / "config.pbtxt").read_text()
    assert main(["serving", "build-repo", str(out), "--flavor", "gpu", "--precision", "int8"]) == 1
    assert "precision 'int8' is not available for the gpu flavor" in capsys.readouterr().err


def test_build_repo_refuses_a_folder_it_did_not_write(tmp_path: Path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["serving", "build-repo", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("vehiclekit serving build-repo: ")
    assert (tmp_path / "mine.txt").read_text() == "keep me" and not (tmp_path / MANIFEST).exists()
