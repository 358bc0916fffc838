"""`vehiclekit parking` and `vehiclekit stats` end to end on real images (a charged exit with its
printed receipt, reviews, `sessions --status`, `stats ingest --manifest/--folder`); the apps never
import torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from vehiclekit.apps import Store
from vehiclekit.cli import main
from vehiclekit.paths import REPO_ROOT

TARIFF = str(REPO_ROOT / "deploy" / "tariff.example.yaml")


@pytest.fixture(scope="module")
def images(data_dir: Path) -> Path:
    return data_dir / "vehicle-reid" / "images" / "test"


def test_parking_enter_exit_review_and_report(tmp_path: Path, images: Path, capsys):
    db = ["--db", str(tmp_path / "p.db"), "--tariff", TARIFF]
    assert main(["parking", "enter", str(images / "bus_0002_cam1.jpg"), "--gate", "north",
                 "--time", "2026-05-01T08:00:00+02:00", *db]) == 0
    assert main(["parking", "exit", str(images / "bus_0002_cam2.jpg"), "--gate", "south",
                 "--time", "2026-05-01T10:00:00+02:00", "--threshold", "1.0", *db]) == 3     # nothing reaches 1.0: review
    assert "not charged" in capsys.readouterr().out
    assert main(["parking", "exit", "--session", "1", "--gate", "south", "--time", "2026-05-01T10:00:00+02:00",
                 "--json", *db]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["session_id"] == 1 and receipt["similarity"] is None and receipt["currency"] == "EUR"
    assert main(["parking", "sessions", "--reviews", "--db", db[1]]) == 0
    assert "unmatched" in capsys.readouterr().out
    assert main(["parking", "report", "--json", "--db", db[1]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reviews"] == 1 and sum(t["closed"] for t in report["types"].values()) == 1


def test_parking_review_shows_the_case_and_resolve_charges_once(tmp_path: Path, images: Path, capsys):
    db, tariff = ["--db", str(tmp_path / "p.db")], ["--tariff", TARIFF]
    assert main(["parking", "enter", str(images / "bus_0002_cam1.jpg"), "--gate", "north",
                 "--time", "2026-05-01T08:00:00+02:00", *db, *tariff]) == 0
    assert main(["parking", "exit", str(images / "bus_0002_cam2.jpg"), "--gate", "south",
                 "--time", "2026-05-01T10:30:00+02:00", "--threshold", "1.0", *db, *tariff]) == 3
    capsys.readouterr()
    assert main(["parking", "review", "--out", str(tmp_path / "cases"), *db]) == 0
    out = capsys.readouterr().out
    assert "review #1 unmatched" in out and "case-1.jpg" in out and "parking resolve CASE" in out
    picture = cv2.imread(str(tmp_path / "cases" / "case-1.jpg"))
    exit_image, entry_image = (cv2.imread(str(images / f"bus_0002_cam{c}.jpg")) for c in (2, 1))
    scaled_widths = sum(round(im.shape[1] * 240 / im.shape[0]) for im in (exit_image, entry_image))
    assert picture.shape[0] == 240 + 28 and picture.shape[1] >= scaled_widths        # both images, side by side
    assert main(["parking", "resolve", "1", "--match", "1", "--by", "alice", "--json", *db, *tariff]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["session_id"] == 1 and receipt["exit_time"].startswith("2026-05-01T08:30:00")   # the exit, in UTC
    assert main(["parking", "resolve", "1", "--no-match", "--by", "bob", *db, *tariff]) == 1
    assert "already resolved (match session 1) by alice" in capsys.readouterr().err
    assert main(["parking", "review", *db]) == 0 and "no open review cases" in capsys.readouterr().out
    assert main(["parking", "review", "--all", "--json", "--out", str(tmp_path / "cases"), *db]) == 0
    case = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (case["status"], case["resolved_by"], case["resolved_session"]) == ("resolved", "alice", 1)
    assert main(["parking", "report", "--json", *db]) == 0
    assert sum(t["closed"] for t in json.loads(capsys.readouterr().out)["types"].values()) == 1


def test_parking_errors_say_what_to_do(tmp_path: Path, images: Path, capsys):
    image = str(images / "bus_0002_cam1.jpg")
    assert main(["parking", "enter", image, "--gate", "n", "--db", str(tmp_path / "p.db")]) == 1
    assert "pass --tariff FILE" in capsys.readouterr().err
    assert main(["parking", "enter", image, "--gate", "n", "--db", str(tmp_path / "p.db"), "--tariff", TARIFF,
                 "--time", "2026-05-01T08:00"]) == 1
    assert "no time zone" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["parking", "--help"])
    assert "enter" in capsys.readouterr().out


def test_stats_ingest_and_report(tmp_path: Path, images: Path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,gate,direction,time\n"
                        f"{images / 'car_0001_cam1.jpg'},north,entry,2026-03-28T23:40:00+01:00\n"
                        f"{images / 'car_0001_cam2.jpg'},south,exit,2026-03-29T03:10:00+02:00\n")
    db = ["--db", str(tmp_path / "s.db")]
    assert main(["stats", "ingest", "--manifest", str(manifest), *db]) == 0
    out = tmp_path / "report"
    assert main(["stats", "report", *db, "--bucket", "day", "--tz", "Europe/Berlin", "--out", str(out), "--no-plots"]) == 0
    assert "2 events" in capsys.readouterr().out
    days = {row["bucket_start"] for row in json.loads((out / "report.json").read_text())["counts"]}
    assert days == {"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"}
    assert main(["stats", "ingest", "--folder", str(images), *db]) == 1
    assert "--folder needs --gate and --direction" in capsys.readouterr().err


def test_a_matched_exit_is_charged_and_its_receipt_printed(tmp_path: Path, images: Path, capsys):
    db = ["--db", str(tmp_path / "p.db"), "--tariff", TARIFF]
    assert main(["parking", "enter", str(images / "bus_0002_cam1.jpg"), "--gate", "north",
                 "--time", "2026-05-01T08:00:00+02:00", *db]) == 0
    assert main(["parking", "enter", str(images / "car_0001_cam1.jpg"), "--gate", "north",
                 "--time", "2026-05-01T08:10:00+02:00", *db]) == 0
    capsys.readouterr()
    assert main(["parking", "exit", str(images / "bus_0002_cam2.jpg"), "--gate", "south",
                 "--time", "2026-05-01T10:30:00+02:00", *db]) == 0
    receipt = capsys.readouterr().out
    # the example tariff's bus: 30 min periods, 8.00 then 6.00 each: 2 h 30 = 5 periods = 32.00
    assert receipt.startswith("receipt session #1 bus 2026-05-01T06:00:00+00:00 -> 2026-05-01T08:30:00+00:00 (2:30:00)")
    assert "fee 32.00 EUR (similarity 0." in receipt

    assert main(["parking", "sessions", "--db", db[1]]) == 0                    # default: open only
    assert capsys.readouterr().out.splitlines() == ["#2 open car in north 2026-05-01T06:10:00+00:00"]
    assert main(["parking", "sessions", "--status", "closed", "--db", db[1]]) == 0
    closed = capsys.readouterr().out.splitlines()
    assert len(closed) == 1 and closed[0].startswith("#1 closed bus") and closed[0].endswith("fee 32.00 EUR (match)")
    assert main(["parking", "sessions", "--status", "all", "--db", db[1]]) == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()] == [["#1", "closed"], ["#2", "open"]]


def test_stats_ingest_a_folder_of_one_gate(tmp_path: Path, images: Path, capsys):
    folder = tmp_path / "north-entry"
    folder.mkdir()
    for name in ("car_0001_cam1.jpg", "bus_0002_cam1.jpg"):
        shutil.copy(images / name, folder / name)
    db = tmp_path / "s.db"
    assert main(["stats", "ingest", "--folder", str(folder), "--gate", "north", "--direction", "entry",
                 "--no-makes", "--db", str(db)]) == 0
    events, vectors = Store(str(db)).events()
    assert sorted(e.vehicle_type for e in events) == ["bus", "car"]
    assert {(e.gate, e.direction) for e in events} == {("north", "entry")} and vectors.shape[0] == 2
    assert {Path(e.image).name for e in events} == {"car_0001_cam1.jpg", "bus_0002_cam1.jpg"}


def test_apps_import_no_torch_and_no_training():
    code = ("import sys, vehiclekit.commands.parking, vehiclekit.commands.stats, vehiclekit.commands.count, "
            "vehiclekit.apps.parking, vehiclekit.apps.stats, vehiclekit.apps.events, "
            "vehiclekit.apps.plots; from vehiclekit.apps import ParkingLot; "
            "bad = [m for m in ('torch', 'torchvision', 'vehiclekit.training') if m in sys.modules]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_parking_record_exit_settle_resolve_and_calibrate(tmp_path: Path, images: Path, capsys):
    """Billing after the stay on real images: two cars enter, both exits are recorded (nothing
    charged), a settlement charges them, a review-first one sends them to a person, and
    calibration on so few resolved cases says review-first."""
    db, tariff = ["--db", str(tmp_path / "p.db")], ["--tariff", TARIFF]
    vehicles = ("bus_0002", "car_0001")
    for name in vehicles:
        assert main(["parking", "enter", str(images / f"{name}_cam1.jpg"), "--gate", "north",
                     "--time", "2026-05-01T08:00:00+02:00", *db, *tariff]) == 0
    for name in vehicles:
        assert main(["parking", "record-exit", str(images / f"{name}_cam2.jpg"), "--gate", "south",
                     "--time", "2026-05-01T10:30:00+02:00", "--json", *db, *tariff]) == 0
    recorded = [json.loads(line) for line in capsys.readouterr().out.split("\n")[-3:-1]]
    assert [r["status"] for r in recorded] == ["pending", "pending"] and recorded[0]["id"] != recorded[1]["id"]
    assert Store(db[1]).sessions("closed") == []
    assert main(["parking", "settle", "--until", "2026-05-01T12:00:00+02:00", "--json", *db, *tariff]) == 0
    settlement = json.loads(capsys.readouterr().out)
    charged = {(r["exit_id"], r["session_id"]) for r in settlement["receipts"]}
    assert charged == {(recorded[0]["id"], 1), (recorded[1]["id"], 2)} and settlement["review"] == []
    assert main(["parking", "sessions", "--exits", *db]) == 0
    assert capsys.readouterr().out.count("charged session") == 2
    # A second car park run review-first: each exit becomes a case with its proposed session first.
    db2 = ["--db", str(tmp_path / "q.db")]
    for name in vehicles:
        main(["parking", "enter", str(images / f"{name}_cam1.jpg"), "--gate", "north",
              "--time", "2026-05-01T08:00:00+02:00", *db2, *tariff])
        main(["parking", "record-exit", str(images / f"{name}_cam2.jpg"), "--gate", "south",
              "--time", "2026-05-01T10:30:00+02:00", *db2, *tariff])
    capsys.readouterr()
    assert main(["parking", "settle", "--review-first", "--until", "2026-05-01T12:00:00+02:00", *db2, *tariff]) == 0
    out = capsys.readouterr().out
    assert "0 charged, 2 sent to review (review-first" in out and "parking resolve" in out
    for case, session in ((1, 1), (2, 2)):
        assert main(["parking", "resolve", str(case), "--match", str(session), "--by", "alice", *db2, *tariff]) == 0
    capsys.readouterr()
    saved = tmp_path / "calibration.json"
    assert main(["parking", "calibrate", "--save", str(saved), *db2]) == 0
    out = capsys.readouterr().out
    assert "2 resolved cases" in out and "review-first: only 2 labelled cases, 149 needed" in out
    assert json.loads(saved.read_text())["cut"] is None
    assert main(["parking", "settle", "--calibration", str(saved), *db2, *tariff]) == 0     # nothing left to settle
    assert "0 charged, 0 sent to review" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["parking", "settle", "--calibration", str(tmp_path / "missing.json"), *db2, *tariff]) != 0
    assert "write one with `vehiclekit parking calibrate --save FILE`" in capsys.readouterr().err
