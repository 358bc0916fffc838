"""The run directory's side of training, the same for every task: resume from ``last.pt``, one unit
(an epoch, or a UPS iteration) after another, its history entry, and after each unit ``last.pt``
(what ``--resume`` continues from), ``best.pt`` (the best-scoring unit's model) and ``history.json``,
each written atomically."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from vehiclekit.training.core.checkpoint import save_atomic, write_json
from vehiclekit.training.core.loop import EpochProgress


@dataclass
class Trainer:
    """The outer loop of a run in ``out`` with ``config``, ``total`` units long, resuming from ``state``
    (the loaded ``last.pt``, or None).

    ``model``, ``optimizer``, ``scheduler``: restored on resume and saved in ``last.pt`` (with
    ``resume_weights`` off, as UPS, which trains a fresh model per iteration, ``last.pt`` holds neither);
    ``model`` is what ``best.pt`` holds. ``keep``: stored in both checkpoints (e.g. the class names).
    ``unit``: the checkpoints' counter key (``epoch``, 0-based). ``best_key``: where ``last.pt`` keeps
    the best score (None: no ``best.pt``). ``writer``: this process writes the run directory (rank 0 of
    a distributed run). ``last_extra()``: more for ``last.pt``, a task's own resume state.

    Mid-epoch: :meth:`save_progress` writes ``last.pt`` inside unit ``i`` (its counter still says
    ``i - 1``, with the unit's :class:`~.loop.EpochProgress`); a resumed run gets it back from
    :meth:`progress` for that unit and continues the unit after its ``steps``.
    """

    out: Path
    config: dict[str, Any]
    total: int
    state: dict[str, Any] | None = None
    model: nn.Module | None = None
    optimizer: Any = None
    scheduler: Any = None
    resume_weights: bool = True
    keep: dict[str, Any] = field(default_factory=dict)
    unit: str = "epoch"
    best_key: str | None = "best_acc"
    writer: bool = True
    last_extra: Callable[[], dict[str, Any]] = dict

    def __post_init__(self) -> None:
        self.start, self.history, self.best, self._progress = 0, [], -1.0, None
        if self.state is None:
            return
        if self.resume_weights:
            for name, obj in self._weights().items():
                obj.load_state_dict(self.state[name])
        self.start, self.history = self.state[self.unit] + 1, self.state["history"]
        self.best = self.state[self.best_key] if self.best_key else self.best
        self._progress = self.state.get("progress")
        if self.writer:
            within = f", step {self._progress['steps']}" if self._progress else ""
            print(f"resumed {self.out} at {self.unit} {self.start}/{self.total}{within}")

    def _weights(self) -> dict[str, Any]:
        return {name: obj for name, obj in (("model", self.model), ("optimizer", self.optimizer),
                                            ("scheduler", self.scheduler)) if obj is not None}

    def fit(self, train: Callable[[int], dict], evaluate: Callable[[int], dict] | None = None,
            score: str | None = None, after: Callable[[dict], None] | None = None) -> list[dict]:
        """For each unit ``i`` left: ``train(i)`` (its history entry), ``evaluate(i)`` merged into it,
        ``seconds`` (unless the entry has it), then the checkpoints and ``after(entry)`` (e.g. a print).
        ``best.pt`` follows ``entry[score]`` (units without it are not candidates); with ``score`` None
        every unit is the best (no held-out selection). Returns the history."""
        for i in range(self.start, self.total):
            t0 = time.time()
            entry = train(i)
            if evaluate:
                entry |= evaluate(i)
            entry.setdefault("seconds", round(time.time() - t0, 1))
            self.history.append(entry)
            is_best = score is None or entry.get(score, float("-inf")) > self.best
            if is_best and score is not None:
                self.best = entry[score]
            if self.writer:
                self.save(i, is_best)
            if after:
                after(entry)
        return self.history

    def progress(self, i: int) -> EpochProgress | None:
        """Where unit ``i`` stopped, when the run resumes inside it (else None: start it afresh)."""
        return EpochProgress(**self._progress) if self._progress and i == self.start else None

    def save_progress(self, i: int, progress: EpochProgress) -> None:
        """``last.pt`` inside unit ``i`` after ``progress.steps`` steps (only the writer writes)."""
        if self.writer:
            self._write_last(i - 1, progress=asdict(progress))

    def save(self, i: int, is_best: bool) -> None:
        """``best.pt`` (if ``is_best``), then ``last.pt`` and ``history.json``."""
        if self.best_key and is_best:
            save_atomic({"model": self.model.state_dict(), "config": self.config, **self.keep, self.unit: i},
                        self.out / "best.pt")
        self._write_last(i)
        write_json(self.out / "history.json", self.history)

    def _write_last(self, i: int, **more: Any) -> None:
        weights = {name: obj.state_dict() for name, obj in self._weights().items()} if self.resume_weights else {}
        best = {self.best_key: self.best} if self.best_key else {}
        save_atomic({**weights, "config": self.config, **self.keep, self.unit: i, **best, "history": self.history,
                     **self.last_extra(), **more}, self.out / "last.pt")
