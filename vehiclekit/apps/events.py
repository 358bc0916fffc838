"""Traffic events in: from the API (:class:`TrafficRecorder`), a CSV manifest or a folder of images.

A CSV manifest has a header and the columns ``image,gate,direction,time`` (``direction`` is
``entry`` or ``exit``, ``time`` ISO-8601 with an offset; relative image paths are relative to the
manifest) and optionally ``vehicle_type`` (then the classifier is not run for that row). A folder
of images is one gate and direction; each image's time is its file modification time (UTC).
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from vehiclekit.apps.observer import Observer
from vehiclekit.apps.parking import observe
from vehiclekit.apps.results import TrafficEvent
from vehiclekit.apps.traffic_store import TrafficStore
from vehiclekit.apps.times import parse_time, require_aware
from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk.image import IMAGE_SUFFIXES, ImageInput

MANIFEST_COLUMNS = ("image", "gate", "direction", "time")


class ManifestError(VehiclekitError, ValueError):
    """A CSV manifest or image folder that cannot be ingested (the message names the file and line)."""


#: (image path, gate, direction, time, vehicle type or None)
Item = tuple[Path, str, str, datetime, str | None]


def read_manifest(path: str | os.PathLike) -> list[Item]:
    """The rows of a CSV manifest (see the module docstring)."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames or []
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e.strerror or e}") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"manifest {path} lacks the column(s) {missing}: "
                            f"its header must name {', '.join(MANIFEST_COLUMNS)} (and optionally vehicle_type)")
    items = []
    for line, row in enumerate(rows, start=2):
        if row["direction"] not in ("entry", "exit"):
            raise ManifestError(f"{path}:{line}: direction must be entry or exit, got {row['direction']!r}")
        try:
            time = parse_time(row["time"], "time")
        except ValueError as e:
            raise ManifestError(f"{path}:{line}: {e}") from None
        image = Path(row["image"]) if Path(row["image"]).is_absolute() else path.parent / row["image"]
        items.append((image, row["gate"], row["direction"], time, row.get("vehicle_type") or None))
    return items


def folder_items(folder: str | os.PathLike, gate: str, direction: str) -> list[Item]:
    """Every image in ``folder`` (sorted by name) as one gate/direction, timed by modification time."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder of images")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [(p, gate, direction, datetime.fromtimestamp(p.stat().st_mtime, UTC), None) for p in images]


class TrafficRecorder:
    """Recognise vehicles passing gates and store them as :class:`TrafficEvent` s."""

    def __init__(self, store: TrafficStore, observer: Observer | None = None):
        self.store, self.observer = store, observer or Observer()

    def record(self, image: ImageInput | None, gate: str, direction: str, time: datetime, *,
               vehicle_type: str | None = None, embedding=None) -> TrafficEvent:
        """Recognise and store one event (``vehicle_type`` / ``embedding`` may be given precomputed)."""
        event, vector = self._event(image, gate, direction, time, vehicle_type, embedding)
        self.store.add_events([(event, vector)])
        return event

    def ingest(self, items: list[Item], progress: bool = True) -> int:
        """Recognise and store manifest/folder items (one transaction per 64); returns the count."""
        batch = []
        for image, gate, direction, time, vehicle_type in tqdm(items, desc="ingesting", unit="image", disable=not progress):
            batch.append(self._event(image, gate, direction, time, vehicle_type, None))
            if len(batch) == 64:
                self.store.add_events(batch)
                batch = []
        self.store.add_events(batch)
        return len(items)

    def _event(self, image, gate, direction, time, vehicle_type, embedding):
        seen = observe(self.observer, image, vehicle_type, embedding)
        event = TrafficEvent(time=require_aware(time, "event time"), gate=gate, direction=direction,
                             vehicle_type=seen.vehicle_type, type_confidence=seen.type_confidence,
                             image=os.fspath(image) if isinstance(image, (str, os.PathLike)) else None,
                             make=seen.make, make_confidence=seen.make_confidence)
        return event, seen.embedding
