"""Atomic checkpoints and run directories shared by every ``train-vehicle`` command."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename: a kill at any moment
    leaves either the old checkpoint or the new one, never a torn file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic` (tensors and plain Python only). A missing
    file is a FileNotFoundError, a file torch cannot load a ValueError, each one line naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} {'is not a file' if path.exists() else 'does not exist'}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, KeyError, EOFError, RuntimeError) as e:
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(f"{path} is not a checkpoint written by train-vehicle ({type(e).__name__}: {first_line})") from e


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def add_run_arguments(p: argparse.ArgumentParser, default_out: str, workers: int = 2, threads: int | None = 2) -> None:
    """The options every training command shares: loader workers, threads, seed, run dir, resume."""
    p.add_argument("--workers", type=int, default=workers, help="data-loader worker processes")
    p.add_argument("--threads", type=int, default=threads, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=default_out, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt with the run's stored settings")


def open_run(
    out: Path, resume: bool, fresh_config: Callable[[], dict[str, Any]], write_config: bool = True
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The config a training command runs with, and the checkpoint it resumes from (or None).

    With ``resume``, ``OUT/last.pt``'s stored config wins, workers and threads included: they shape
    the augmentation RNG streams and the float reduction order, so the resumed run continues exactly
    as it would have. Without, a directory that already holds a run is refused rather than
    overwritten, and ``fresh_config()`` is the config. ``write_config``: create OUT and write the
    config to ``OUT/config.json`` (only one process of a distributed run should).
    """
    last = out / "last.pt"
    if resume:
        if not last.exists():
            raise SystemExit(f"--resume: no checkpoint at {last}; start without --resume")
        state = load_checkpoint(last)
        config = {**state["config"], "resume": True}
    elif last.exists():
        raise SystemExit(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    else:
        config, state = fresh_config(), None
    if write_config:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", config)
    return config, state


def start_run(args: argparse.Namespace, **resolved: Any) -> tuple[argparse.Namespace, dict[str, Any], dict[str, Any] | None]:
    """:func:`open_run` for a single-process command whose config is its parsed arguments (with
    ``resolved`` settings the command worked out, e.g. its backbone, in place of the parsed ones),
    then the run's threads and seeds: returns the arguments the run uses, its config (for
    checkpoints) and the checkpoint it resumes from (or None; a resumed run keeps its stored config)."""
    fresh = {k: v for k, v in {**vars(args), **resolved}.items() if k != "func"}
    config, state = open_run(Path(args.out), args.resume, lambda: fresh)
    args = argparse.Namespace(**config)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    return args, config, state


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed Python, numpy and torch in each worker from the
    loader's (generator-derived) torch seed, so augmentations are reproducible."""
    seed_everything(torch.initial_seed() % 2**32)
