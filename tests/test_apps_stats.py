"""Traffic statistics: buckets across midnight, time zones and DST days; dwell pairing; exports; ingest."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vehiclekit.apps import Store, TrafficEvent
from vehiclekit.apps.events import ManifestError, TrafficRecorder, read_manifest
from vehiclekit.apps.report_files import write_report
from vehiclekit.apps.stats import bucket_range, bucket_start, traffic_report

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(start: datetime, tz: ZoneInfo = BERLIN) -> str:
    return start.astimezone(tz).isoformat()


def test_day_buckets_follow_local_midnight():
    late = utc(2026, 1, 1, 23, 30)                                   # 00:30 on 2 January in Berlin
    assert local(bucket_start(late, "day", BERLIN)) == "2026-01-02T00:00:00+01:00"
    assert bucket_start(late, "day", ZoneInfo("UTC")) == utc(2026, 1, 1)
    assert local(bucket_start(late, "hour", BERLIN)) == "2026-01-02T00:00:00+01:00"


def test_spring_dst_day_has_23_hour_buckets():
    day = bucket_range(utc(2026, 3, 28, 23), utc(2026, 3, 29, 21, 59), "hour", BERLIN)   # local 29 March
    assert len(day) == 23
    assert [local(b)[11:] for b in day[1:3]] == ["01:00:00+01:00", "03:00:00+02:00"]     # 02:00 does not exist
    assert bucket_start(utc(2026, 3, 29, 1, 30), "hour", BERLIN) == utc(2026, 3, 29, 1)   # 03:30+02:00 -> 03:00


def test_autumn_dst_repeated_hour_is_two_buckets():
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)                   # both 02:30 local
    a, b = bucket_start(first, "hour", BERLIN), bucket_start(second, "hour", BERLIN)
    assert (local(a), local(b)) == ("2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00") and a != b
    assert len(bucket_range(utc(2026, 10, 24, 22), utc(2026, 10, 25, 22, 59), "hour", BERLIN)) == 25
    assert bucket_start(first, "day", BERLIN) == bucket_start(second, "day", BERLIN)


def test_quarter_hours_in_a_half_hour_offset_zone():
    kolkata = ZoneInfo("Asia/Kolkata")
    assert local(bucket_start(utc(2026, 5, 1, 10, 7), "15min", kolkata), kolkata) == "2026-05-01T15:30:00+05:30"
    assert local(bucket_start(utc(2026, 5, 1, 10, 7), "hour", kolkata), kolkata) == "2026-05-01T15:00:00+05:30"


def test_bad_bucket_or_zone():
    with pytest.raises(ValueError, match="bucket must be one of"):
        traffic_report([], np.zeros((0, 0)), bucket="week")
    with pytest.raises(ValueError, match="unknown time zone"):
        traffic_report([], np.zeros((0, 0)), tz="Mars/Olympus")


def event(direction: str, time: datetime, vehicle_type: str = "car", gate: str = "north") -> TrafficEvent:
    return TrafficEvent(time=time, gate=gate, direction=direction, vehicle_type=vehicle_type)


def test_report_counts_pairs_dwell_and_exports(tmp_path: Path):
    e = np.eye(4, dtype=np.float32)
    events = [event("entry", utc(2026, 1, 1, 22, 50)), event("entry", utc(2026, 1, 1, 23, 10), "motorcycle"),
              event("exit", utc(2026, 1, 2, 1, 50), "car", "south"), event("exit", utc(2026, 1, 2, 2), "truck", "south")]
    vectors = np.stack([e[0], e[1], e[0] + 0.05 * e[2], e[3]])         # the truck matches no entry
    report = traffic_report(events, vectors, "day", "Europe/Berlin", threshold=0.8, margin=0.05)
    assert report.dwell[0]["dwell_minutes"] == 180 and report.dwell[0]["vehicle_type"] == "car"
    assert (report.unmatched_exits, report.ambiguous_exits) == (1, 0)
    days = {local(s) for (s, _, _, _) in report.counts}
    assert days == {"2026-01-01T00:00:00+01:00", "2026-01-02T00:00:00+01:00"}         # 23:10Z is already 2 January
    paths = write_report(report, tmp_path)
    rows = list(csv.DictReader((tmp_path / "counts.csv").open()))
    assert sum(int(r["count"]) for r in rows) == 4 and {r["direction"] for r in rows} == {"entry", "exit"}
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["dwell"]["matched"] == 1 and summary["tz"] == "Europe/Berlin"
    assert all(p.stat().st_size > 0 for p in paths) and (tmp_path / "counts.png").read_bytes()[:4] == b"\x89PNG"


def test_manifest_errors_name_the_line(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,gate,direction,time\na.jpg,north,entry,2026-01-01T08:00:00Z\nb.jpg,north,in,2026-01-01T09:00:00Z\n")
    with pytest.raises(ManifestError, match=r"m.csv:3: direction must be entry or exit"):
        read_manifest(manifest)
    manifest.write_text("image,gate,direction,time\na.jpg,north,entry,2026-01-01T08:00:00\n")
    with pytest.raises(ManifestError, match=r"m.csv:2: .*no time zone"):
        read_manifest(manifest)
    manifest.write_text("image,gate,time\n")
    with pytest.raises(ManifestError, match=r"lacks the column\(s\) \['direction'\]"):
        read_manifest(manifest)


def test_ingest_real_images_from_a_manifest(tmp_path: Path, data_dir: Path):
    images = data_dir / "vehicle-reid" / "images" / "test"
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,gate,direction,time\n"
                        f"{images / 'bus_0002_cam1.jpg'},north,entry,2026-03-29T00:30:00+01:00\n"
                        f"{images / 'bus_0002_cam2.jpg'},south,exit,2026-03-29T04:15:00+02:00\n")
    store = Store(tmp_path / "stats.db")
    assert TrafficRecorder(store).ingest(read_manifest(manifest), progress=False) == 2
    events, vectors = store.events()
    assert [e.direction for e in events] == ["entry", "exit"] and vectors.shape == (2, 1280)   # vehicle-reid v2
    report = traffic_report(events, vectors, "hour", "Europe/Berlin", threshold=0.7)
    assert report.dwell[0]["dwell_minutes"] == 165                                       # across the DST change
    assert events[0].image.endswith("bus_0002_cam1.jpg") and events[0].type_confidence > 0
    assert store.events(start=utc(2026, 3, 29, 1))[0][0].direction == "exit"
    assert TrafficRecorder(store).record(None, "east", "entry", utc(2026, 3, 29, 5), vehicle_type="car",
                                         embedding=np.ones(1280)).vehicle_type == "car"
    assert len(store.events(end=utc(2026, 3, 29) + timedelta(days=1))[0]) == 3
