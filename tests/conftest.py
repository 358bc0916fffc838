"""Shared fixtures: the real data under the data root (``../shared/data`` or ``$VEHICLEKIT_DATA``) and
the SDK models, each loaded once per session.

Nothing is skipped: when the data or a model is missing, the tests that need it fail with the
error saying what is missing and how to provide it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vehiclekit.errors import VehiclekitError
from vehiclekit.models.zoo import COCO_VEHICLE_CLASSES
from vehiclekit.paths import data_root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data root; fails (never skips) when it is missing."""
    try:
        return data_root()
    except VehiclekitError as e:
        error = str(e)
    pytest.fail(f"the tests need the shared data: {error}", pytrace=False)


@pytest.fixture(scope="session")
def coco_dir(data_dir: Path) -> Path:
    """``coco-vehicles/``: ``images/`` and ``instances.json``."""
    return data_dir / "coco-vehicles"


@pytest.fixture(scope="session")
def coco_vehicle_boxes(coco_dir: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """File name -> [(vehicle label, xyxy box)] of the ground-truth vehicle boxes of every
    ``coco-vehicles`` image (empty list for images without vehicles)."""
    instances = json.loads((coco_dir / "instances.json").read_text())
    names = {image["id"]: image["file_name"] for image in instances["images"]}
    boxes: dict[str, list] = {name: [] for name in names.values()}
    for ann in instances["annotations"]:
        if ann["category_id"] in COCO_VEHICLE_CLASSES:
            x, y, w, h = ann["bbox"]
            boxes[names[ann["image_id"]]].append((COCO_VEHICLE_CLASSES[ann["category_id"]], (x, y, x + w, y + h)))
    return boxes


@pytest.fixture(scope="session")
def classifier():
    """The shipped vehicle-type classifier (zoo model ``vehicle-type``)."""
    from vehiclekit.sdk import VehicleClassifier

    try:
        return VehicleClassifier()
    except VehiclekitError as e:
        error = str(e)
    pytest.fail(f"the shipped classifier does not load: {error}", pytrace=False)


@pytest.fixture(scope="session")
def detector():
    """YOLOX-Nano with the SDK defaults."""
    from vehiclekit.sdk import VehicleDetector

    try:
        return VehicleDetector()
    except VehiclekitError as e:
        error = str(e)
    pytest.fail(f"the detector does not load: {error}", pytrace=False)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two xyxy boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="session")
def box_iou():
    """:func:`iou`, as a fixture so test modules need not import conftest."""
    return iou


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this test session (see ``pg_server.py``): its URL prefix."""
    import shutil
    import tempfile

    from pg_server import INSTALL_HINT, postgres_bin, postgres_server

    if postgres_bin() is None:
        pytest.fail(f"the store tests need PostgreSQL: {INSTALL_HINT}", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="vehiclekit-pg-"))   # not under pytest's 0700 temp: the server runs as postgres
    try:
        with postgres_server(folder) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty parking/statistics database: a SQLite file, or a new database on the real
    PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    from pg_server import create_database

    return create_database(request.getfixturevalue("postgres"))


@pytest.fixture
def killed_at_first_checkpoint(monkeypatch):
    """``run(args)``: ``train-vehicle args``, stopped like a kill right after its first ``last.pt`` write."""
    from vehiclekit.training.cli import main as train_vehicle
    from vehiclekit.training.core import trainer

    def run(args: list[str]) -> None:
        real_save = trainer.save_atomic

        def save_then_die(obj, path):
            real_save(obj, path)
            raise KeyboardInterrupt("killed after the first checkpoint")

        monkeypatch.setattr(trainer, "save_atomic", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            train_vehicle(args)
        monkeypatch.undo()

    return run
