"""A traffic report as files: CSV counts (per type, make, segment), the dwell pairs, JSON, and the
plots of :mod:`vehiclekit.apps.plots` (``vehiclekit stats report``)."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

from vehiclekit.apps.plots import plot_counts, plot_dwell
from vehiclekit.apps.stats import TrafficReport


def _write_counts(report: TrafficReport, counts: Counter, column: str, path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["bucket_start", "gate", "direction", column, "count"])
        for (start, gate, direction, category), n in sorted(counts.items()):
            writer.writerow([report.local(start), gate, direction, category, n])
    return path


def write_report(report: TrafficReport, out_dir: str | os.PathLike, plots: bool = True) -> list[Path]:
    """Write counts.csv, counts_by_make.csv, dwell.csv, report.json (and counts_by_segment.csv with
    segments) and, with ``plots``, counts.png, dwell.png (and segments.png); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_counts(report, report.counts, "vehicle_type", out / "counts.csv"), out / "dwell.csv",
               out / "report.json", _write_counts(report, report.make_counts, "make", out / "counts_by_make.csv")]
    if report.segment_counts:
        written.append(_write_counts(report, report.segment_counts, "segment", out / "counts_by_segment.csv"))
    with (out / "dwell.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["entry_time", "exit_time", "vehicle_type", "entry_gate", "exit_gate",
                                               "dwell_minutes", "similarity"])
        writer.writeheader()
        writer.writerows(report.dwell)
    counts = [{"bucket_start": report.local(s), "gate": g, "direction": d, "vehicle_type": t, "count": n}
              for (s, g, d, t), n in sorted(report.counts.items())]
    (out / "report.json").write_text(json.dumps({**report.summary(), "counts": counts, "dwell_pairs": report.dwell}, indent=1))
    if plots and report.counts:
        written += [plot_counts(report, out / "counts.png"), plot_dwell(report, out / "dwell.png")]
        if report.segment_counts:
            written.append(plot_counts(report, out / "segments.png", report.segment_counts, "segment"))
    return written
