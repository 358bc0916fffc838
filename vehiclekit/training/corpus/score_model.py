"""What one scoring worker computes on a batch of encoded images (issue 32 item 4), torch-free.

The same quantities as the labelling queue's in-process :func:`~vehiclekit.training.active.select.score_pool`:
the softmax, the backbone features (``kcenter``) and ``passes`` MC-dropout softmax samples of the
linear head (``bald`` / ``ups``: dropout ``p`` on the features, kept units scaled by ``1 / (1 - p)``,
Gal & Ghahramani 2016). The exported ONNX classifier is cut before its head (:func:`split_head`): one
ONNX Runtime call gives the logits *and* the head's input; the head's weights are read from the graph
and the MC passes run in numpy. Each image's dropout masks come from its own RNG seeded by its key,
so a sample's MC passes do not depend on the batch, the worker or the number of workers.
Decoding and pre-processing are the SDK's (:func:`~vehiclekit.sdk.image.load_image`,
:func:`~vehiclekit.models.preprocess.classifier_input`), as ``eval_transform`` is for training.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
from onnx import helper, numpy_helper

from vehiclekit.errors import InvalidImageError, VehiclekitError
from vehiclekit.models.metadata import CLASSIFIER_OUTPUT, ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.sdk.image import load_image
from vehiclekit.sdk.session import create_session, zoo_file
from vehiclekit.training.active.strategies import dropout_masks

#: Output columns (one row per image; ``error`` is null for a scored image, the reason otherwise).
SCHEMA = pa.schema([("key", pa.string()), ("probs", pa.list_(pa.float32())), ("features", pa.list_(pa.float32())),
                    ("mc_probs", pa.list_(pa.float32())), ("error", pa.string())])


@dataclass(frozen=True)
class Head:
    """The cut classifier: ``proto`` outputs ``logits`` and ``features``; ``logits = features @ weight.T + bias``."""
    meta: ClassifierMetadata
    proto: bytes
    features: str
    weight: np.ndarray      # [C, D]
    bias: np.ndarray        # [C]


def model_path(model: str) -> Path:
    """The ONNX file of a zoo classifier name (``vehicle-type``, ``vehicle-type@2``) or an ``.onnx`` path."""
    if model.endswith(".onnx"):
        if not Path(model).is_file():
            raise VehiclekitError(f"--model {model} does not exist: give a zoo name or an exported .onnx file")
        return Path(model)
    if (Path(model) / "best.pt").is_file():
        raise VehiclekitError(f"--model {model} is a run folder: export it first (`train-vehicle export {model}`) "
                              "and score with the .onnx file")
    return zoo_file(model, "classification")


def split_head(path: Path) -> Head:
    """Cut the exported classifier at ``path`` before its final linear layer (a Gemm, or MatMul + Add,
    whose weights are initializers): the graph gets the head's input as a second output."""
    proto = onnx.load(str(path))
    try:
        meta = ClassifierMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    except ValueError as e:
        raise VehiclekitError(f"{path}: {e}") from None
    graph = proto.graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    last = producer.get(CLASSIFIER_OUTPUT) or producer.get(graph.output[0].name)
    weight = bias = None
    if last is not None and last.op_type == "Gemm" and last.input[1] in init:
        attrs = {a.name: helper.get_attribute_value(a) for a in last.attribute}
        if attrs.get("transA", 0) == 0:
            b = init[last.input[1]]
            weight = attrs.get("alpha", 1.0) * (b if attrs.get("transB", 0) else b.T)
            c = init.get(last.input[2]) if len(last.input) > 2 else None
            bias = attrs.get("beta", 1.0) * (c if c is not None else np.zeros(len(weight), np.float32))
            features = last.input[0]
    elif last is not None and last.op_type == "Add":
        matmul = producer.get(last.input[0])
        if matmul is not None and matmul.op_type == "MatMul" and matmul.input[1] in init and last.input[1] in init:
            weight, bias, features = init[matmul.input[1]].T, init[last.input[1]], matmul.input[0]
    if weight is None:
        raise VehiclekitError(f"{path}: the last node is not a linear head (Gemm or MatMul + Add on stored weights), "
                              "so it cannot be scored with MC dropout; export the classifier with `train-vehicle export`")
    graph.output.append(helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, None))
    return Head(meta, proto.SerializeToString(), features, np.ascontiguousarray(weight, np.float32),
                np.asarray(bias, np.float32).reshape(-1))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return (z / z.sum(-1, keepdims=True)).astype(np.float32)


def mc_head(features: np.ndarray, keys: list[str], head: Head, passes: int, p: float, seed: int = 0) -> np.ndarray:
    """``[N, passes, C]`` softmax of the head on dropped-out ``features`` ``[N, D]``."""
    masks = np.stack([dropout_masks(k, passes, features.shape[1], p, seed) for k in keys])
    return softmax((features[:, None, :] * masks) @ head.weight.T + head.bias)


def _lists(rows: np.ndarray, empty: int) -> pa.Array:
    """Rows of ``[N, ...]`` as an Arrow list column (flattened per row), then ``empty`` empty lists."""
    flat = np.ascontiguousarray(rows, np.float32).reshape(len(rows), -1)
    offsets = np.concatenate([np.arange(len(flat) + 1) * flat.shape[1], np.full(empty, flat.size)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.reshape(-1)))


#: Members of a WebDataset sample read as its image, first present wins.
SHARD_IMAGE_MEMBERS = ("jpg", "jpeg", "png", "webp", "bmp")


def keys_and_data(batch: dict) -> tuple[list[str], list]:
    """Each sample's key and encoded image from a batch of image files (``path``, ``bytes``: Ray's
    ``read_binary_files``; key: the path) or of WebDataset samples (key ``SHARD#__key__``, the
    ``Sample.name`` of :mod:`~vehiclekit.training.corpus.shards`)."""
    if "path" in batch:
        return [str(k) for k in batch["path"]], list(batch["bytes"])
    members = [batch[m] for m in SHARD_IMAGE_MEMBERS if m in batch]
    data = [next((m[i] for m in members if m[i] is not None), b"") for i in range(len(batch["__key__"]))]
    keys = [f"{url}#{key}" for url, key in zip(batch["__url__"], batch["__key__"])]
    return keys, data


class BatchScorer:
    """Scores batches of encoded images (:func:`keys_and_data`) into a :data:`SCHEMA` table: the
    callable class Ray Data's ``map_batches`` runs in each actor, and the local engine in-process."""

    def __init__(self, head: Head, passes: int = 10, dropout: float = 0.3, seed: int = 0, threads: int = 1):
        self.head, self.meta = head, head.meta
        self.passes, self.dropout, self.seed = passes, dropout, seed
        with tempfile.TemporaryDirectory() as tmp:      # the SDK's session options, on the cut graph
            cut = Path(tmp) / "cut.onnx"
            cut.write_bytes(head.proto)
            self.session = create_session(cut, providers=["CPUExecutionProvider"], threads=threads, spin=False)
        self.input = self.session.get_inputs()[0].name
        self.outputs = [self.session.get_outputs()[0].name, head.features]

    def __call__(self, batch: dict) -> pa.Table:
        keys, images, errors = [], [], {}
        for key, data in zip(*keys_and_data(batch)):
            try:
                images.append(load_image(bytes(data or b"")))
                keys.append(key)
            except InvalidImageError as e:
                errors[key] = str(e)
        n, c = len(keys), len(self.meta.labels)
        probs, feats = np.zeros((0, c), np.float32), np.zeros((0, len(self.head.weight[0])), np.float32)
        mc = np.zeros((n, self.passes, c), np.float32)
        if n:
            x = classifier_input(images, tuple(self.meta.input_size), self.meta.mean, self.meta.std)
            logits, feats = self.session.run(self.outputs, {self.input: x})
            probs = softmax(logits)
            if self.passes:
                mc = mc_head(feats, keys, self.head, self.passes, self.dropout, self.seed)
        m = len(errors)
        return pa.table({"key": [*keys, *errors], "probs": _lists(probs, m), "features": _lists(feats, m),
                         "mc_probs": _lists(mc, m), "error": [None] * n + list(errors.values())}, schema=SCHEMA)
