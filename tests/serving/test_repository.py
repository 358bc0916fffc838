"""The repository builder: config.pbtxt parsed with Triton's own schema, both flavors alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as pb

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.serving import config as cfg
from vehiclekit.models.serving_contract import (
    ATTRIBUTES, CLASSIFIER, DETECTOR, DETECTOR_NETWORK, MODELS, PIPELINE, PIPELINE_SESSIONS, REID, signature_parameter,
)
from vehiclekit.serving.onnx_signature import read_signature
from vehiclekit.serving.repository import MANIFEST, build_repository, repository_flavor


def load_configs(repo: Path) -> dict[str, pb.ModelConfig]:
    return {model: cfg.parse((repo / model / "config.pbtxt").read_text()) for model in MODELS}


def io(config: pb.ModelConfig) -> list[tuple]:
    """Names, dtypes and dims of every input and output."""
    return [(t.name, t.data_type, tuple(t.dims)) for t in (*config.input, *config.output)]


@pytest.fixture(scope="module")
def gpu_repo(tmp_path_factory, classifier_onnx, detector_onnx) -> Path:
    return build_repository(tmp_path_factory.mktemp("repos") / "gpu", "gpu", classifier_onnx, detector_onnx)


def test_both_flavors_serve_the_same_models_and_tensors(cpu_repo, gpu_repo):
    cpu, gpu = load_configs(cpu_repo), load_configs(gpu_repo)
    assert sorted(p.name for p in cpu_repo.iterdir() if p.is_dir()) == sorted(MODELS)
    for model in MODELS:
        assert cpu[model].name == gpu[model].name == model
        assert io(cpu[model]) == io(gpu[model])
        assert cpu[model].max_batch_size == gpu[model].max_batch_size
        assert cpu[model].version_policy.latest.num_versions == 1
        assert cpu[model].instance_group and gpu[model].instance_group
    assert repository_flavor(cpu_repo) == "cpu" and repository_flavor(gpu_repo) == "gpu"


def test_backends_per_flavor(cpu_repo, gpu_repo):
    cpu, gpu = load_configs(cpu_repo), load_configs(gpu_repo)
    for onnx_model in (CLASSIFIER, REID, DETECTOR_NETWORK):
        assert cpu[onnx_model].backend == "python"
        assert {p.name for p in (cpu_repo / onnx_model / "1").iterdir()} >= {"model.py", "model.onnx"}
        assert gpu[onnx_model].backend == "onnxruntime"
        assert [p.name for p in (gpu_repo / onnx_model / "1").iterdir()] == ["model.onnx"]
        assert gpu[onnx_model].instance_group[0].kind == pb.ModelInstanceGroup.KIND_GPU
        (trt,) = gpu[onnx_model].optimization.execution_accelerators.gpu_execution_accelerator
        assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"
        assert gpu[onnx_model].model_warmup
    for python_model in (DETECTOR, PIPELINE):
        for repo, configs in ((cpu_repo, cpu), (gpu_repo, gpu)):
            assert configs[python_model].backend == "python"
            entry = (repo / python_model / "1" / "model.py").read_text()
            assert f"from vehiclekit.serving.backend.{python_model.removeprefix('vehicle_')} import TritonPythonModel" in entry
    # cpu: the pipeline opens the ONNX files itself (no BLS round trips); gpu: it calls the GPU models
    assert cpu[PIPELINE].parameters[PIPELINE_SESSIONS].string_value == "in-process"
    assert gpu[PIPELINE].parameters[PIPELINE_SESSIONS].string_value == "bls"


def test_int8_repository_serves_the_int8_zoo_files_and_the_fp32_detector(tmp_path):
    repo = build_repository(tmp_path / "int8", "cpu", precision="int8")
    manifest = json.loads((repo / MANIFEST).read_text())
    assert manifest["precision"] == "int8"
    for model, name in ((CLASSIFIER, "vehicle-type"), (REID, "vehicle-reid"), (ATTRIBUTES, "vehicle-model")):
        assert manifest["sources"][model] == str(zoo.get(name).int8_path)
        assert (repo / model / "1" / "model.onnx").read_bytes() == zoo.get(name).int8_path.read_bytes()
    assert manifest["sources"][DETECTOR_NETWORK] == str(zoo.get("yolox-nano").path)
    with pytest.raises(VehiclekitError, match="not available for the gpu flavor"):
        build_repository(tmp_path / "gpu-int8", "gpu", precision="int8")


def test_tensors_match_the_onnx_files(cpu_repo, classifier_onnx, detector_onnx):
    configs = load_configs(cpu_repo)
    classifier, detector = read_signature(classifier_onnx), read_signature(detector_onnx)
    batch = configs[CLASSIFIER].max_batch_size
    assert batch >= 8 and configs[CLASSIFIER].HasField("dynamic_batching")
    assert max(configs[CLASSIFIER].dynamic_batching.preferred_batch_size) <= batch
    assert io(configs[CLASSIFIER]) == [
        (t.name, pb.DataType.Value(t.data_type), t.dims[1:]) for t in (*classifier.inputs, *classifier.outputs)
    ]
    assert configs[DETECTOR_NETWORK].max_batch_size == 0  # YOLOX-Nano's ONNX has a fixed batch of 1
    assert io(configs[DETECTOR_NETWORK]) == [
        (t.name, pb.DataType.Value(t.data_type), t.dims) for t in (*detector.inputs, *detector.outputs)
    ]
    labels = ClassifierMetadata.from_props(classifier.metadata).labels
    pipeline = {t.name: tuple(t.dims) for t in configs[PIPELINE].output}
    assert pipeline["type_probabilities"] == (-1, len(labels))
    assert {k: v.string_value for k, v in configs[CLASSIFIER].parameters.items()} == classifier.metadata
    bls = configs[PIPELINE].parameters[signature_parameter(CLASSIFIER)].string_value
    assert json.loads(bls)["metadata"] == classifier.metadata


def test_reid_model_batches_and_feeds_the_pipeline(cpu_repo):
    configs = load_configs(cpu_repo)
    reid = read_signature(zoo.get("vehicle-reid").path)
    assert configs[REID].max_batch_size >= 8 and configs[REID].HasField("dynamic_batching")
    assert io(configs[REID]) == [(t.name, pb.DataType.Value(t.data_type), t.dims[1:]) for t in (*reid.inputs, *reid.outputs)]
    assert {k: v.string_value for k, v in configs[REID].parameters.items()} == reid.metadata
    pipeline = {t.name: tuple(t.dims) for t in configs[PIPELINE].output}
    assert pipeline["embeddings"] == (-1, reid.outputs[0].dims[-1])
    assert json.loads(configs[PIPELINE].parameters[signature_parameter(REID)].string_value)["metadata"] == reid.metadata


def test_gpu_flavor_without_tensorrt(tmp_path, classifier_onnx, detector_onnx):
    repo = build_repository(tmp_path / "repo", "gpu", classifier_onnx, detector_onnx, tensorrt=False)
    config = load_configs(repo)[CLASSIFIER]
    assert config.backend == "onnxruntime" and not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_rebuilds_its_own_repository_and_refuses_other_folders(tmp_path, classifier_onnx, detector_onnx):
    repo = build_repository(tmp_path / "repo", "cpu", classifier_onnx, detector_onnx)
    (repo / CLASSIFIER / "stale.txt").write_text("left over")
    build_repository(repo, "gpu", classifier_onnx, detector_onnx)
    assert not (repo / CLASSIFIER / "stale.txt").exists()
    assert json.loads((repo / MANIFEST).read_text())["flavor"] == "gpu"
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]  # no staging folder left behind
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"not ours")
    with pytest.raises(VehiclekitError, match="not a repository built by vehiclekit"):
        build_repository(foreign, "cpu", classifier_onnx, detector_onnx)
    assert (foreign / "cat.jpg").read_bytes() == b"not ours"
    with pytest.raises(ValueError, match="unknown flavor"):
        build_repository(tmp_path / "other", "tpu", classifier_onnx, detector_onnx)
