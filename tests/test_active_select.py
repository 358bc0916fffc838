"""`train-vehicle select` on real images with the shipped vehicle-type model, and the round trips
through Label Studio's formats and a plain CSV into the label store (`import-labels`)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from vehiclekit.labeling import LabelQueue, LabelStore
from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.training.active.import_labels import CONFLICT_EXIT_STATUS
from vehiclekit.training.cli import main as train_vehicle
from vehiclekit.training.core.user_images import from_label_file

TRUTH = {"car": "car", "bike": "motorcycle", "truck": "truck"}     # vehicle-types folder -> vehicle-type label


@pytest.fixture(scope="module")
def pool(tmp_path_factory, data_dir) -> Path:
    """8 real images of each of 3 classes in nested folders, plus one file that is not an image."""
    pool = tmp_path_factory.mktemp("pool")
    for folder in TRUTH:
        (pool / folder).mkdir()
        for src in sorted((data_dir / "vehicle-types" / folder).glob("*.jpg"))[:8]:
            shutil.copy(src, pool / folder / src.name)
    (pool / "car" / "broken.jpg").write_bytes(b"not a jpeg")
    return pool


def truth_of(path: str | Path) -> str:
    return TRUTH[Path(path).parent.name]


@pytest.mark.slow
def test_label_studio_round_trip_into_the_store(pool, tmp_path, capsys):
    tasks_file, store = tmp_path / "tasks.json", tmp_path / "labels.db"
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "5",
                          "--strategy", "bald", "--format", "label-studio", "-o", str(tasks_file)]) == 0
    assert "1 unreadable" in capsys.readouterr().out
    tasks = json.loads(tasks_file.read_text())
    assert len(tasks) == 5
    config = (tmp_path / "tasks.label-config.xml").read_text()
    assert all(f'value="{label}"' in config for label in VEHICLE_TYPES)
    for task in tasks:                                     # Label Studio's documented pre-annotation format
        url = task["data"]["image"]
        assert url.startswith("/data/local-files/?d=") and (pool / url.split("=", 1)[1]).is_file()
        (prediction,) = task["predictions"]
        (result,) = prediction["result"]
        assert (result["from_name"], result["to_name"], result["type"]) == ("label", "image", "choices")
        assert result["value"]["choices"][0] in VEHICLE_TYPES and 0 < prediction["score"] <= 1
    # what Label Studio exports once a person chose the true label of each task
    export = [{**t, "annotations": [{"was_cancelled": False, "result": [
        {"from_name": "label", "to_name": "image", "type": "choices",
         "value": {"choices": [truth_of(t["data"]["image"].split("=", 1)[1])]}}]}]} for t in tasks]
    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(export))
    args = ["import-labels", str(export_file), "--store", str(store), "--by", "alice", "--images-root", str(pool)]
    assert train_vehicle(args) == 0
    stored = LabelStore(store).current()
    assert len(stored) == 5 and all(r.label == truth_of(r.image) and r.by == "alice" for r in stored)
    assert {r.source for r in stored} == {"import:export.json"}
    assert sorted(from_label_file(store)) == sorted((Path(r.image), r.label) for r in stored)   # supervised --labels
    # the next queue never asks again about an image the store has a label for
    queue_file = tmp_path / "next.json"
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "30",
                          "--strategy", "entropy", "--store", str(store), "-o", str(queue_file)]) == 0
    queued = {Path(i.image) for i in LabelQueue.load(queue_file).items}
    assert len(queued) == 24 - 5 and not queued & {Path(r.image) for r in stored}


def test_csv_round_trip_and_a_conflict_is_reported_not_applied(pool, tmp_path, capsys):
    queue_file, store = tmp_path / "queue.csv", tmp_path / "labels.db"
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "6",
                          "--strategy", "margin", "--format", "csv", "-o", str(queue_file)]) == 0
    rows = list(csv.DictReader(queue_file.open()))
    assert len(rows) == 6 and all(r["label"] in VEHICLE_TYPES for r in rows)
    for r in rows:                                          # a person corrects the pre-filled guesses
        r["label"] = truth_of(r["path"])
    with queue_file.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert sorted(label for _, label in from_label_file(queue_file)) == sorted(truth_of(r["path"]) for r in rows)
    assert train_vehicle(["import-labels", str(queue_file), "--store", str(store), "--by", "bob"]) == 0
    rows[0]["label"] = "bus"                                # a second person disagrees about one image
    second = tmp_path / "second.csv"
    second.write_text(f"path,label\n{rows[0]['path']},bus\n")
    capsys.readouterr()
    assert train_vehicle(["import-labels", str(second), "--store", str(store), "--by", "carol"]) == CONFLICT_EXIT_STATUS
    assert "conflict" in capsys.readouterr().out
    assert LabelStore(store).label_of(rows[0]["path"]).label == truth_of(rows[0]["path"])
    assert train_vehicle(["import-labels", str(second), "--store", str(store), "--by", "carol", "--replace"]) == 0
    assert LabelStore(store).label_of(rows[0]["path"]).label == "bus"


def test_ups_split_writes_trainable_pseudo_labels_and_queues_only_the_rest(pool, tmp_path):
    queue_file = tmp_path / "queue.json"
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "24",
                          "--strategy", "ups", "--tau-p", "0.9", "-o", str(queue_file)]) == 0
    pseudo = from_label_file(tmp_path / "queue.pseudo-labels.csv")
    queued = [Path(i.image) for i in LabelQueue.load(queue_file).items]
    assert len(pseudo) + len(queued) == 24 and pseudo and queued
    assert not {p for p, _ in pseudo} & set(queued)
    correct = sum(label == truth_of(p) for p, label in pseudo)
    assert correct / len(pseudo) >= 0.8, f"pseudo-label precision {correct}/{len(pseudo)}"
