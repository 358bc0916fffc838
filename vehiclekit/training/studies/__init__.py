"""Resumable experiment grids behind the tables in docs/ (each step a `train-vehicle` subprocess)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def number_list(text: str, option: str, example: str, valid: Callable[[list[float]], bool], rule: str) -> list[float]:
    """Comma-separated numbers for ``option`` (an argparse ``type``): an ``ArgumentTypeError``
    naming the ``example`` when they do not parse, and the ``rule`` when ``valid`` rejects them."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} wants comma-separated numbers like {example}, got {text!r}") from None
    if not valid(values):
        raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
    return values
