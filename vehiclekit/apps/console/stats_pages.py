"""The console's traffic page: a day's vehicles per hour by type, from the statistics store."""

from __future__ import annotations

import io
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import Flask, abort, render_template, request, send_file


def add_stats_pages(app: Flask, stats_db: str | None, tz: str) -> None:
    """``/stats``: a day's counts and their plot, in time zone ``tz``."""

    @app.get("/stats")
    def stats_page():
        day, report = day_report(stats_db, tz, request.args.get("day"))
        return render_template("stats.html", day=day, summary=report.summary() if report else None,
                               previous=day - timedelta(days=1), next=day + timedelta(days=1))

    @app.get("/stats/<day>.png")
    def stats_plot(day: str):
        from vehiclekit.apps.plots import plot_counts

        _, report = day_report(stats_db, tz, day)
        if report is None:
            abort(404)
        with tempfile.TemporaryDirectory() as tmp:
            data = plot_counts(report, Path(tmp) / "counts.png").read_bytes()
        return send_file(io.BytesIO(data), mimetype="image/png")


def day_report(stats_db: str | None, tz_name: str, text: str | None):
    """(the local day shown, its hourly traffic report or None when nothing was recorded)."""
    from vehiclekit.apps.stats import traffic_report, zone
    from vehiclekit.apps.traffic_store import TrafficStore

    if stats_db is None:
        abort(404, "start the console with --stats-db to see traffic statistics")
    tz = zone(tz_name)
    try:
        day = date.fromisoformat(text) if text else datetime.now(tz).date()
    except ValueError:
        abort(400, "day must be YYYY-MM-DD")
    start = datetime.combine(day, time(), tz)
    events, vectors = TrafficStore(stats_db).events(start, datetime.combine(day + timedelta(days=1), time(), tz))
    return day, traffic_report(events, vectors, "hour", tz_name) if events else None
