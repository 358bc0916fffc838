"""The labeling queue file and the project's label store: what the model asks a person about, and
what people (and imports) answered.

Shared by ``train-vehicle select`` (writes a queue), ``train-vehicle import-labels`` (merges a label
file into the store), ``train-vehicle supervised --labels labels.db`` (trains on the store) and the
review console ``vehiclekit console`` (shows the queue, writes labels). No torch here.

**Queue** (:class:`LabelQueue`): JSON ``{"model", "strategy", "labels": [...], "created", "items":
[{"image", "guess", "top": [[label, probability], ...], "uncertainty"}, ...]}`` with the most
informative image first, or the same items as CSV ``path,label,confidence,uncertainty,top`` with
``label`` pre-filled with the model's guess and ``top`` as ``car:0.910|van:0.050``: a person corrects
the ``label`` column and ``train-vehicle import-labels`` reads the file back (a CSV does not carry the
model's full label list).

**Store** (:class:`LabelStore`): one row per answer, with who gave it (``by``), where it came from
(``source``: ``console``, ``import:FILE``...) and when (UTC). An image has at most one *current*
label. A different answer for a labelled image is a conflict: reported, never applied, unless the
caller asks to replace (then the old row is kept as ``replaced``). Undo marks a row ``undone`` and
brings back the label it replaced. Nothing is ever deleted. SQLite file or SQLAlchemy URL
(:func:`vehiclekit.db.store_engine`); a unique index keeps one current label per image even with
two writers at once.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from vehiclekit.db import store_engine
from vehiclekit.errors import DatasetError, VehiclekitError

QUEUE_FORMATS = ("json", "csv")
CSV_COLUMNS = ("path", "label", "confidence", "uncertainty", "top")


class LabelStoreError(VehiclekitError):
    """The label store cannot be opened or written; the message says which and what to do."""


@dataclass(frozen=True)
class QueueItem:
    """One image to label: ``guess`` (the model's label), ``top`` (best labels with probabilities,
    most likely first) and ``uncertainty`` (the strategy's score; higher = asked first)."""

    image: str
    guess: str
    top: tuple[tuple[str, float], ...]
    uncertainty: float

    @property
    def confidence(self) -> float:
        return self.top[0][1] if self.top else float("nan")


@dataclass
class LabelQueue:
    """A labeling queue: the items in the order a person should see them."""

    model: str
    strategy: str
    labels: tuple[str, ...]
    items: list[QueueItem]
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def save(self, path: str | os.PathLike, fmt: str = "json") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "json":
            doc = {**asdict(self), "labels": list(self.labels)}
            path.write_text(json.dumps(doc, indent=1) + "\n")
        elif fmt == "csv":
            with path.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(CSV_COLUMNS)
                for it in self.items:
                    writer.writerow([it.image, it.guess, f"{it.confidence:.4f}", f"{it.uncertainty:.6f}",
                                     "|".join(f"{label}:{p:.4f}" for label, p in it.top)])
        else:
            raise ValueError(f"queue format must be one of {QUEUE_FORMATS}, got {fmt!r}")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelQueue:
        """A queue written by :meth:`save` (``.json`` or ``.csv``)."""
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"queue {path} does not exist: write one with `train-vehicle select ... -o {path}`")
        try:
            if path.suffix.lower() == ".csv":
                return cls._from_csv(path)
            doc = json.loads(path.read_text())
            items = [QueueItem(it["image"], it["guess"], tuple((str(a), float(b)) for a, b in it["top"]),
                               float(it["uncertainty"])) for it in doc["items"]]
            return cls(doc["model"], doc["strategy"], tuple(doc["labels"]), items, doc.get("created", ""))
        except (ValueError, KeyError, TypeError) as e:
            raise DatasetError(f"{path} is not a vehiclekit labeling queue ({e.__class__.__name__}: {e}); "
                               "write one with `train-vehicle select`") from None

    @classmethod
    def _from_csv(cls, path: Path) -> LabelQueue:
        items, labels = [], {}
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                top = tuple((label, float(p)) for label, p in (part.rsplit(":", 1) for part in row["top"].split("|") if part))
                items.append(QueueItem(row["path"], row["label"], top, float(row["uncertainty"])))
                labels.update(dict.fromkeys([row["label"], *(label for label, _ in top)]))
        return cls(model="", strategy="", labels=tuple(labels), items=items)


@dataclass(frozen=True)
class StoredLabel:
    id: int
    image: str
    label: str
    by: str
    source: str
    at: str
    status: str          # current | replaced | undone


@dataclass
class MergeReport:
    """What :meth:`LabelStore.merge` did: counts, and each conflict as (image, stored label, new label)."""

    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)


metadata = MetaData()
labels_table = Table(
    "labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image", Text, nullable=False),
    Column("label", String(64), nullable=False),
    Column("by", String(64), nullable=False),
    Column("source", String(255), nullable=False),
    Column("at", String(32), nullable=False),                 # ISO-8601 UTC
    Column("status", String(8), nullable=False),              # current | replaced | undone
    Column("replaces", Integer),                              # id of the row this answer replaced
)
Index("one_current_label_per_image", labels_table.c.image, unique=True,
      sqlite_where=labels_table.c.status == "current", postgresql_where=labels_table.c.status == "current")


def image_key(image: str | os.PathLike) -> str:
    """The store's key for an image: its absolute path (so a relative path from any folder agrees)."""
    return str(Path(image).expanduser().resolve())


class LabelStore:
    """Labels with who/when/source (see the module docstring). ``target``: SQLite file or URL."""

    def __init__(self, target: str | os.PathLike = "labels.db"):
        self.target = os.fspath(target)
        try:
            self.engine = store_engine(target)
            metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise LabelStoreError(f"cannot open the label store {self.target}: {e.__class__.__name__}: "
                                  f"{getattr(e, 'orig', None) or e}; check the path and that its folder is writable") from None

    def add(self, image: str | os.PathLike, label: str, by: str, source: str, replace: bool = False) -> tuple[str, StoredLabel]:
        """Record ``label`` for ``image``; returns (``added`` | ``unchanged`` | ``replaced`` |
        ``conflict``, the row now current). A conflict changes nothing."""
        label, by = label.strip(), by.strip()
        if not label or not by:
            raise ValueError("a label and who gave it (by) are required")
        key = image_key(image)
        try:
            return self._add(key, label, by, source, replace)
        except IntegrityError:       # a concurrent writer took the one current slot first: answer against theirs
            return self._add(key, label, by, source, replace)

    def _add(self, key: str, label: str, by: str, source: str, replace: bool) -> tuple[str, StoredLabel]:
        with self.engine.begin() as conn:
            old = conn.execute(select(labels_table).where(labels_table.c.image == key,
                                                          labels_table.c.status == "current")).first()
            if old is not None and old.label == label:
                return "unchanged", _row(old)
            if old is not None and not replace:
                return "conflict", _row(old)
            if old is not None:
                conn.execute(update(labels_table).where(labels_table.c.id == old.id).values(status="replaced"))
            new_id = conn.execute(insert(labels_table).values(
                image=key, label=label, by=by, source=source, at=_now(), status="current",
                replaces=old.id if old is not None else None)).inserted_primary_key[0]
            return ("replaced" if old is not None else "added"), self._get(conn, new_id)

    def merge(self, rows: Iterable[tuple[str | os.PathLike, str]], by: str, source: str, replace: bool = False) -> MergeReport:
        """Add every (image, label); conflicts are collected in the report, not applied (unless ``replace``)."""
        report = MergeReport()
        for image, label in rows:
            outcome, row = self.add(image, label, by, source, replace)
            if outcome == "conflict":
                report.conflicts.append((row.image, row.label, label.strip()))
            else:
                setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def undo(self, label_id: int) -> StoredLabel | None:
        """Withdraw answer ``label_id`` (must be current); the label it replaced, if any, is current
        again and returned."""
        with self.engine.begin() as conn:
            row = conn.execute(select(labels_table).where(labels_table.c.id == label_id)).first()
            if row is None or row.status != "current":
                raise LabelStoreError(f"label #{label_id} is not a current label (it is "
                                      f"{'missing' if row is None else row.status}); nothing undone")
            conn.execute(update(labels_table).where(labels_table.c.id == label_id).values(status="undone"))
            if row.replaces is None:
                return None
            conn.execute(update(labels_table).where(labels_table.c.id == row.replaces).values(status="current"))
            return self._get(conn, row.replaces)

    def current(self) -> list[StoredLabel]:
        """Every image's current label, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(labels_table).where(labels_table.c.status == "current")
                                .order_by(labels_table.c.id)).all()
        return [_row(r) for r in rows]

    def history(self) -> list[StoredLabel]:
        """Every answer ever recorded (current, replaced and undone), oldest first."""
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(select(labels_table).order_by(labels_table.c.id)).all()]

    def label_of(self, image: str | os.PathLike) -> StoredLabel | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(labels_table).where(labels_table.c.image == image_key(image),
                                                          labels_table.c.status == "current")).first()
        return None if row is None else _row(row)

    def items(self) -> list[tuple[Path, str]]:
        """(image, label) of every current label: what ``train-vehicle supervised --labels`` trains on."""
        return [(Path(r.image), r.label) for r in self.current()]

    @staticmethod
    def _get(conn, label_id: int) -> StoredLabel:
        return _row(conn.execute(select(labels_table).where(labels_table.c.id == label_id)).one())

    def __repr__(self) -> str:
        return f"LabelStore({self.target!r})"


def is_label_store(path: str | os.PathLike) -> bool:
    """Whether ``--labels`` names a label store (``.db``/``.sqlite`` file or a database URL) rather
    than a CSV or Label Studio export."""
    text = os.fspath(path)
    return "://" in text or Path(text).suffix.lower() in (".db", ".sqlite", ".sqlite3")


def _row(row) -> StoredLabel:
    return StoredLabel(**{k: row._mapping[k] for k in ("id", "image", "label", "by", "source", "at", "status")})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
