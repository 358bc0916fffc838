"""The project label store (who/when/source, conflicts, undo) and the labeling queue file, on SQLite
and on a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest

from vehiclekit.labeling import LabelQueue, LabelStore, LabelStoreError, QueueItem, image_key, is_label_store


def test_a_new_label_is_added_with_who_and_source_and_survives_reopening(store_url, tmp_path):
    store = LabelStore(store_url)
    outcome, row = store.add(tmp_path / "a.jpg", "car", "alice", "console")
    assert outcome == "added"
    assert (row.label, row.by, row.source, row.status) == ("car", "alice", "console", "current")
    again = LabelStore(store_url).label_of(tmp_path / "a.jpg")
    assert again is not None and again.label == "car" and again.at == row.at


def test_a_different_label_is_a_conflict_and_changes_nothing(store_url, tmp_path):
    store = LabelStore(store_url)
    store.add(tmp_path / "a.jpg", "car", "alice", "console")
    assert store.add(tmp_path / "a.jpg", "car", "bob", "import:x.csv")[0] == "unchanged"
    outcome, row = store.add(tmp_path / "a.jpg", "van", "bob", "import:x.csv")
    assert outcome == "conflict" and row.label == "car" and row.by == "alice"
    assert [r.label for r in store.history()] == ["car"]


def test_replace_keeps_the_old_answer_and_undo_brings_it_back(store_url, tmp_path):
    store = LabelStore(store_url)
    store.add(tmp_path / "a.jpg", "car", "alice", "console")
    outcome, new = store.add(tmp_path / "a.jpg", "van", "bob", "import:x.csv", replace=True)
    assert outcome == "replaced" and store.label_of(tmp_path / "a.jpg").label == "van"
    assert [(r.label, r.status) for r in store.history()] == [("car", "replaced"), ("van", "current")]
    restored = store.undo(new.id)
    assert restored is not None and restored.label == "car" and store.label_of(tmp_path / "a.jpg").by == "alice"
    assert [r.status for r in store.history()] == ["current", "undone"]
    with pytest.raises(LabelStoreError, match="not a current label"):
        store.undo(new.id)


def test_merge_reports_added_unchanged_and_conflicts(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    store.add(tmp_path / "a.jpg", "car", "alice", "console")
    report = store.merge([(tmp_path / "a.jpg", "van"), (tmp_path / "b.jpg", "bus"), (tmp_path / "a.jpg", "car")],
                         "bob", "import:f.csv")
    assert (report.added, report.unchanged, report.replaced) == (1, 1, 0)
    assert report.conflicts == [(image_key(tmp_path / "a.jpg"), "car", "van")]
    assert sorted((p.name, label) for p, label in store.items()) == [("a.jpg", "car"), ("b.jpg", "bus")]


def test_two_writers_at_once_leave_one_current_label_per_image(store_url, tmp_path):
    stores = [LabelStore(store_url), LabelStore(store_url)]
    results = []

    def write(store, label):
        for i in range(20):
            results.append(store.add(tmp_path / f"{i}.jpg", label, label, "race")[0])

    threads = [threading.Thread(target=write, args=(s, label)) for s, label in zip(stores, ("car", "van"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores[0].current()) == 20
    assert sorted(set(results)) == ["added", "conflict"] and results.count("added") == 20


def test_a_label_needs_a_value_and_who_gave_it(tmp_path):
    with pytest.raises(ValueError, match="who gave it"):
        LabelStore(tmp_path / "labels.db").add(tmp_path / "a.jpg", "car", " ", "console")


def test_an_unwritable_store_says_so(tmp_path):
    with pytest.raises(LabelStoreError, match="cannot open the label store"):
        LabelStore(tmp_path / "missing-folder" / "labels.db")


def test_relative_and_absolute_paths_are_the_same_image(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert image_key("a.jpg") == image_key(tmp_path / "a.jpg")
    assert is_label_store("labels.db") and is_label_store("postgresql+psycopg://h/db") and not is_label_store("l.csv")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_queue_round_trips_through_its_file(tmp_path, fmt):
    queue = LabelQueue("vehicle-type", "bald", ("car", "van", "bus"), [
        QueueItem(str(tmp_path / "a.jpg"), "van", (("van", 0.5), ("car", 0.4), ("bus", 0.1)), 0.31),
        QueueItem(str(tmp_path / "b,c.jpg"), "car", (("car", 0.9), ("van", 0.05), ("bus", 0.05)), 0.02)])
    loaded = LabelQueue.load(queue.save(tmp_path / f"q.{fmt}", fmt))
    assert loaded.items == queue.items
    assert set(loaded.labels) == {"car", "van", "bus"}
