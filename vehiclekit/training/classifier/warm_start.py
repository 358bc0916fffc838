"""Start ``train-vehicle supervised`` from a trained classifier: ``--init vehicle-type`` (a zoo name),
``--init model.onnx`` (any ``train-vehicle export`` file) or ``--init runs/NAME`` (a run's ``best.pt``).

A zoo model ships as ONNX only, with each BatchNorm folded into the convolution before it; it is
mapped back onto the network it came from (its metadata names the backbone): every convolution
gets the folded weight, and its BatchNorm becomes the identity plus the folded bias (running mean
0, running variance 1 - eps, scale 1), which computes exactly the same function. The mapping is
checked: PyTorch must reproduce ONNX Runtime on a test batch within 1e-4, or nothing is loaded.

Same labels in the same order -> the whole classifier continues training; other labels -> the
backbone is kept and the linear head starts fresh (the usual transfer to new classes). Frozen
stages (``--frozen-blocks``) compute exactly what the ONNX did; the BatchNorm layers of the others
keep the folded ones fixed too: a folded BatchNorm is the identity plus a bias, and normalising
with batch statistics during training would undo the scale folded into its convolution, so these
layers stay in eval mode (their bias still trains), as detection models fine-tune with frozen BN.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.models.factory import Classifier
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.training.core.checkpoint import load_checkpoint

MAX_ABS_DIFF = 1e-4


def is_trained_model(init: str) -> bool:
    """Whether ``--init`` names a trained classifier (zoo name, ONNX file, run folder) rather than
    ``imagenet`` or a backbone checkpoint."""
    base = init.split("@")[0]
    return base in zoo.latest() or init.endswith(".onnx") or (Path(init) / "best.pt").is_file()


def trained_onnx_path(init: str) -> Path | None:
    """The ONNX file a zoo name or ``.onnx`` path names; None for a run folder."""
    if (Path(init) / "best.pt").is_file():
        return None
    path = Path(init) if init.endswith(".onnx") else zoo.get(init).path
    if not path.is_file():
        raise VehiclekitError(f"--init {init}: {path} does not exist")
    return path


def load_trained(init: str) -> tuple[Classifier, tuple[str, ...]]:
    """The classifier ``init`` names (eval mode) and its labels."""
    path = trained_onnx_path(init)
    if path is None:
        ckpt = load_checkpoint(Path(init) / "best.pt")
        model = Classifier(ckpt["config"]["arch"], len(ckpt["classes"]), ckpt["config"].get("dropout", 0.0))
        model.load_state_dict(ckpt["model"])
        return model.eval(), tuple(ckpt["classes"])
    return from_onnx(path)


def onnx_metadata(path: Path, proto: onnx.ModelProto | None = None) -> ClassifierMetadata:
    """The vehiclekit metadata (labels, input size, normalisation, backbone) of an exported ONNX file."""
    proto = proto if proto is not None else onnx.load(str(path), load_external_data=False)
    return ClassifierMetadata.from_props({p.key: p.value for p in proto.metadata_props})


def from_onnx(path: Path) -> tuple[Classifier, tuple[str, ...]]:
    """A :class:`Classifier` computing what the exported ONNX ``path`` computes (checked)."""
    proto = onnx.load(str(path))
    meta = onnx_metadata(path, proto)
    if meta.task != "classification" or not meta.arch:
        raise VehiclekitError(f"--init {path}: not a vehiclekit classifier export (task {meta.task!r}, arch {meta.arch!r})")
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    model = Classifier(meta.arch, len(meta.labels)).eval()
    modules = list(model.named_modules())
    for i, (name, conv) in enumerate(modules):
        if not isinstance(conv, nn.Conv2d):
            continue
        weight, bias = weights.get(f"{name}.weight"), weights.get(f"{name}.weight_bias")
        norm = next((m for _, m in modules[i + 1:] if isinstance(m, (nn.BatchNorm2d, nn.Conv2d))), None)
        if weight is None or bias is None or not isinstance(norm, nn.BatchNorm2d):
            raise VehiclekitError(f"--init {path}: no folded weights for {name}; re-export it with `train-vehicle export`")
        conv.weight.data.copy_(weight)
        norm.weight.data.fill_(1.0)
        norm.bias.data.copy_(bias)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
    model.head.weight.data.copy_(weights["head.weight"])
    model.head.bias.data.copy_(weights["head.bias"])
    _check(model, path, meta)
    return model, meta.labels


def _always_eval(module: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(module, False)


def keep_batchnorm_in_eval(model: nn.Module) -> None:
    """Every BatchNorm of ``model`` stays in eval mode through ``model.train()`` (running statistics
    used and never updated; its affine weight and bias still train)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.train = types.MethodType(_always_eval, module)
            module.eval()


def _check(model: Classifier, path: Path, meta: ClassifierMetadata) -> None:
    import onnxruntime as ort

    batch = np.random.default_rng(0).standard_normal((4, 3, *meta.input_size)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: batch})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(batch)).numpy()
    if not np.abs(got - expected).max() <= MAX_ABS_DIFF:
        raise VehiclekitError(f"--init {path}: the rebuilt network differs from the ONNX file by "
                              f"{np.abs(got - expected).max():.2e}; it cannot be used as a starting point")


def warm_start(model: Classifier, init: str, classes: tuple[str, ...]) -> str:
    """Load the trained classifier ``init`` into ``model`` (same backbone); returns what was done."""
    trained, labels = load_trained(init)
    if trained.backbone_name != model.backbone_name:
        raise VehiclekitError(f"--init {init} is a {trained.backbone_name} model: pass --arch {trained.backbone_name}")
    model.backbone.load_state_dict(trained.backbone.state_dict())
    if not (Path(init) / "best.pt").is_file():        # weights from an ONNX file: BatchNorm folded
        keep_batchnorm_in_eval(model.backbone)
    if labels == tuple(classes):
        model.head.load_state_dict(trained.head.state_dict())
        return f"continuing {init} (same {len(labels)} labels)"
    return f"backbone of {init} ({len(labels)} labels), new head for {len(classes)} labels"
