"""Export a ``train-vehicle reid`` run to an ONNX embedder: input ``images`` ``[N, 3, H, W]`` (the
shared :func:`~vehiclekit.models.preprocess.classifier_input` with the backbone's normalisation), output ``embeddings`` ``[N, D]``
L2-normalised, dynamic batch, vehiclekit metadata with task ``reid`` and no labels. Reuses
:func:`vehiclekit.training.classifier.export.export_onnx` (atomic write, refused unless ONNX Runtime reproduces
PyTorch on real test images within 1e-4).
"""

from __future__ import annotations

from pathlib import Path

from vehiclekit.models.factory import backbone_spec
from vehiclekit.models.metadata import EMBEDDING_OUTPUT, REID_TASK, ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.paths import data_root
from vehiclekit.training.classifier.export import export_onnx
from vehiclekit.training.core.datasets import load_vehicle_reid, read_bgr
from vehiclekit.training.reid.evaluate import load_run_embedder

DEFAULT_NAME = "vehicle-reid"


def export_run(run_dir: Path, output: Path, name: str = DEFAULT_NAME, version: str = "1",
               data: str | None = None, parity_images: int = 32, parity_paths: list[Path] | None = None) -> dict:
    """Write ``output`` from ``run_dir/best.pt``; returns the parity report. Parity is checked on
    ``parity_paths`` (the run's test images) or the vehicle-reid test split."""
    embedder, img_size = load_run_embedder(run_dir)
    model, spec = embedder.model, backbone_spec(embedder.model.arch)
    meta = ClassifierMetadata(name=name, version=version, labels=(), input_size=(img_size, img_size),
                              mean=spec.mean, std=spec.std, arch=model.arch, task=REID_TASK)
    paths = parity_paths or [im.path for im in load_vehicle_reid(data_root(data), "test")]
    step = max(1, len(paths) // parity_images)
    batch = classifier_input([read_bgr(p) for p in paths[::step][:parity_images]], (img_size, img_size),
                             spec.mean, spec.std)
    return export_onnx(embedder, meta, batch, output, EMBEDDING_OUTPUT)
