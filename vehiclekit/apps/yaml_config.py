"""Read an application's YAML configuration file into a validated pydantic model, with one kind of
error that names the file and every bad key (tariffs, segment tables)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: str | os.PathLike, model: type[Model], error: type[Exception], what: str, expected: str) -> Model:
    """``model`` validated from the YAML mapping in ``path``; ``error`` (naming ``what`` and the file,
    and each bad key) when it cannot be read, is not YAML, is not a mapping (``expected`` says what
    it should hold) or fails validation."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a YAML mapping with {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(top level)'}: {err['msg']}" for err in e.errors())
        raise error(f"{what} {path} is invalid: {problems}") from None
