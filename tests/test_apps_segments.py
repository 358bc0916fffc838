"""Premium-customer spotting: the segment table, make and segment counts in the statistics, the
store's added columns, and makes recognised at ingest on real photos."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vehiclekit.apps import SegmentError, Store, TrafficEvent, load_segments
from vehiclekit.apps.observer import Observer
from vehiclekit.apps.segments import DEFAULT_SEGMENTS
from vehiclekit.apps.report_files import write_report
from vehiclekit.apps.stats import traffic_report
from vehiclekit.training.core.datasets import load_stanford_cars, load_vehicle_reid

MAKES = ("Audi", "BMW", "Ferrari", "Ford", "Mercedes-Benz", "Toyota")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def table(tmp_path, text: str):
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    return load_segments(path, MAKES)


def test_default_table_is_valid_for_the_shipped_make_model():
    segments = load_segments()                       # validated against vehicle-make's own labels
    assert segments.segment("BMW", 0.9) == "premium" and segments.segment("Ferrari", 0.9) == "luxury"
    assert segments.segment("Ford", 0.9) == segments.default == "mainstream"
    assert segments.segment("BMW", 0.49, min_confidence=0.5) == "unknown"
    assert segments.segment("BMW", 0.5, min_confidence=0.5) == "premium"
    assert segments.segment(None) == "unknown"


def test_a_typo_names_the_file_key_and_the_closest_make(tmp_path):
    with pytest.raises(SegmentError, match=r"segments.yaml: segments.premium\[1\]: unknown make 'Mercedes'; "
                                           r"did you mean 'Mercedes-Benz'\?"):
        table(tmp_path, "default: mainstream\nsegments:\n  premium: [Audi, Mercedes]\n")


@pytest.mark.parametrize("text, message", [
    ("default: x\nsegments:\n  a: [Audi]\n  b: [Audi]\n", "'Audi' is in both 'a' and 'b'"),
    ("default: x\nsegments:\n  unknown: [Audi]\n", "'unknown' is reserved"),
    ("segments:\n  a: [Audi]\n", r"default: Field required"),
    ("default: x\nsegments: {a: [Audi]}\ncolour: red\n", "colour: Extra inputs are not permitted"),
    ("- Audi\n", "must be a YAML mapping"),
    ("default: [\n", "not valid YAML"),
])
def test_invalid_tables_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(SegmentError, match=message):
        table(tmp_path, text)


def event(minutes: int, make: str | None, confidence: float | None, vehicle_type: str = "car") -> TrafficEvent:
    return TrafficEvent(time=T0 + timedelta(minutes=minutes), gate="north", direction="entry",
                        vehicle_type=vehicle_type, make=make, make_confidence=confidence)


def test_report_counts_makes_and_segments_with_the_confidence_floor(tmp_path):
    segments = table(tmp_path, "default: mainstream\nsegments:\n  premium: [Audi, BMW]\n  luxury: [Ferrari]\n")
    events = [event(0, "BMW", 0.9), event(5, "BMW", 0.6), event(10, "BMW", 0.3), event(15, "Ferrari", 0.95),
              event(20, "Ford", 0.8), event(70, "Audi", 0.7), event(75, None, None, "bus")]
    report = traffic_report(events, np.eye(len(events), 4, dtype=np.float32), "hour", "UTC",
                            segments=segments, min_make_confidence=0.5)
    summary = report.summary()
    assert summary["per_make"] == {"BMW": 2, "unknown": 2, "Ferrari": 1, "Ford": 1, "Audi": 1}
    assert summary["per_segment"] == {"premium": 3, "unknown": 2, "luxury": 1, "mainstream": 1}
    assert report.segment_counts[(T0, "north", "entry", "premium")] == 2
    assert report.segment_counts[(T0 + timedelta(hours=1), "north", "entry", "premium")] == 1
    looser = traffic_report(events, np.eye(len(events), 4, dtype=np.float32), segments=segments, min_make_confidence=0.2)
    assert looser.summary()["per_segment"]["premium"] == 4
    written = {p.name for p in write_report(report, tmp_path / "out")}
    assert {"counts_by_make.csv", "counts_by_segment.csv", "segments.png"} <= written
    with (tmp_path / "out" / "counts_by_segment.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {"bucket_start": "2026-03-02T09:00:00+00:00", "gate": "north", "direction": "entry", "segment": "premium",
            "count": "2"} in rows


def test_a_store_from_before_makes_gets_the_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:                      # the events table as version 0.1 created it
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, time DATETIME NOT NULL, gate VARCHAR(64) NOT NULL, "
                     "direction VARCHAR(5) NOT NULL, vehicle_type VARCHAR(32) NOT NULL, type_confidence FLOAT, "
                     "embedding BLOB NOT NULL, image TEXT)")
        conn.execute("INSERT INTO events (time, gate, direction, vehicle_type, embedding) VALUES "
                     "('2026-03-02 09:00:00.000000', 'north', 'entry', 'car', ?)", (np.ones(4, np.float32).tobytes(),))
    store = Store(path)
    store.add_events([(event(1, "BMW", 0.8), np.ones(4, np.float32))])
    events, _ = store.events()
    assert [(e.make, e.make_confidence) for e in events] == [(None, None), ("BMW", 0.8)]


def test_ingest_recognises_makes_of_cars_only(data_dir):
    observer = Observer(makes=True)
    car = load_stanford_cars(data_dir, "make", "test")
    seen = observer.observe(car.paths[0])
    assert seen.vehicle_type in ("car", "suv", "van", "pickup")
    assert seen.make in observer.make_classifier.labels and 0 < seen.make_confidence <= 1
    bus = next(im for im in load_vehicle_reid(data_dir, "test") if im.vehicle_type == "bus")
    seen = observer.observe(bus.path)
    assert seen.vehicle_type == "bus" and seen.make is None and seen.make_confidence is None
    assert Observer().observe(car.paths[0]).make is None          # makes are opt-in for the API


def test_default_table_file_is_the_packaged_one():
    assert DEFAULT_SEGMENTS.name == "segments.yaml" and DEFAULT_SEGMENTS.is_file()
