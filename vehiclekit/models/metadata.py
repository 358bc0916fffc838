"""The contract between an exported ONNX model and everything that runs it.

``train-vehicle export`` writes these keys into the ONNX ``metadata_props``; the SDK and the Triton
repository builder read them back. Values are JSON strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

INPUT_NAME = "images"
CLASSIFIER_OUTPUT = "logits"
#: Output of a re-ID embedder: ``[N, D]`` float32, each row L2-normalised (task "reid", labels []).
EMBEDDING_OUTPUT = "embeddings"
REID_TASK = "reid"

KEY_NAME = "vehiclekit.model_name"
KEY_VERSION = "vehiclekit.model_version"
KEY_TASK = "vehiclekit.task"
KEY_LABELS = "vehiclekit.labels"
KEY_INPUT_SIZE = "vehiclekit.input_size"  # [H, W]
KEY_MEAN = "vehiclekit.mean"  # RGB, on 0-1 pixels
KEY_STD = "vehiclekit.std"
KEY_ARCH = "vehiclekit.arch"
#: Coarser labels of each output class, by group (e.g. a make-model-year classifier's
#: ``{"make": [...], "body_type": [...]}``, one entry per class): a group's probability is the sum
#: of its classes' probabilities.
KEY_GROUPS = "vehiclekit.label_groups"


@dataclass(frozen=True)
class ClassifierMetadata:
    name: str
    version: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    arch: str = ""
    task: str = "classification"
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for group, members in self.groups.items():
            if len(members) != len(self.labels):
                raise ValueError(f"label group {group!r} has {len(members)} entries for {len(self.labels)} labels")

    def to_props(self) -> dict[str, str]:
        groups = {KEY_GROUPS: json.dumps({g: list(m) for g, m in self.groups.items()})} if self.groups else {}
        return groups | {
            KEY_NAME: self.name,
            KEY_VERSION: self.version,
            KEY_TASK: self.task,
            KEY_LABELS: json.dumps(list(self.labels)),
            KEY_INPUT_SIZE: json.dumps(list(self.input_size)),
            KEY_MEAN: json.dumps(list(self.mean)),
            KEY_STD: json.dumps(list(self.std)),
            KEY_ARCH: self.arch,
        }

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "ClassifierMetadata":
        missing = [k for k in (KEY_NAME, KEY_VERSION, KEY_LABELS, KEY_INPUT_SIZE, KEY_MEAN, KEY_STD) if k not in props]
        if missing:
            raise ValueError(
                f"ONNX model lacks vehiclekit metadata {missing}; export it with `train-vehicle export`"
            )
        return cls(
            name=props[KEY_NAME],
            version=props[KEY_VERSION],
            task=props.get(KEY_TASK, "classification"),
            labels=tuple(json.loads(props[KEY_LABELS])),
            input_size=tuple(json.loads(props[KEY_INPUT_SIZE])),
            mean=tuple(json.loads(props[KEY_MEAN])),
            std=tuple(json.loads(props[KEY_STD])),
            arch=props.get(KEY_ARCH, ""),
            groups={g: tuple(m) for g, m in json.loads(props.get(KEY_GROUPS, "{}")).items()},
        )
