"""The console's Flask application (see :mod:`vehiclekit.apps.console`)."""

from __future__ import annotations

import functools
import hmac
import io
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, flash, redirect, render_template, request, send_file, url_for

from vehiclekit.apps.errors import StoreError
from vehiclekit.errors import VehiclekitError
from vehiclekit.labeling import LabelQueue, LabelStore, image_key


@dataclass
class ConsoleConfig:
    """What the console works on. ``user``: the name stored with every label and decision."""

    user: str
    labels: str = "labels.db"
    queue: Path | None = None
    parking_db: str | None = None
    tariff: Path | None = None
    stats_db: str | None = None
    tz: str = "UTC"
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    password: str | None = None          # HTTP Basic auth (any user name, this password) when set


class LabelSession:
    """The labeling queue as this console process walks it: skips and its own answers (for undo)."""

    def __init__(self, queue: LabelQueue | None, store: LabelStore):
        self.queue, self.store = queue, store
        self.skipped: set[int] = set()
        self.answers: list[tuple[int, int]] = []          # (queue index, label row id), newest last

    def progress(self) -> tuple[int | None, int]:
        """(the next queue index to ask about, or None; how many queue images are labelled), from one
        read of the store. The queue's store keys are resolved once, in :meth:`keys`."""
        if self.queue is None:
            return None, 0
        labelled = {r.image for r in self.store.current()}
        done = [key in labelled for key in self.keys]
        following = (i for i, is_done in enumerate(done) if not is_done and i not in self.skipped)
        return next(following, None), sum(done)

    @functools.cached_property
    def keys(self) -> list[str]:
        return [image_key(item.image) for item in self.queue.items] if self.queue else []


def create_app(config: ConsoleConfig) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret, MAX_CONTENT_LENGTH=64 * 1024)
    store = LabelStore(config.labels)
    labeling = LabelSession(LabelQueue.load(config.queue) if config.queue else None, store)

    @functools.cache
    def open_lot():                      # the store and the tariff are opened once, on first use
        from vehiclekit.apps.parking import ParkingLot
        from vehiclekit.apps.store import Store
        from vehiclekit.apps.tariff import load_tariff

        return ParkingLot(load_tariff(config.tariff), Store(config.parking_db))

    def lot():
        if config.parking_db is None or config.tariff is None:
            abort(404, "start the console with --parking-db and --tariff to review parking exits")
        return open_lot()

    @app.before_request
    def guard():
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if config.allowed_hosts and host not in config.allowed_hosts:
            abort(400, f"unknown host {host!r}: open the console by the address it printed")
        if config.password is not None:
            given = request.authorization.password if request.authorization else None
            if not given or not hmac.compare_digest(given.encode(), config.password.encode()):
                return Response("the console needs its password", 401, {"WWW-Authenticate": 'Basic realm="vehiclekit console"'})
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                abort(403, "cross-site request refused")
            if not hmac.compare_digest(request.form.get("csrf", ""), config.secret):
                abort(403, "missing or wrong form token: reload the page and try again")

    @app.context_processor
    def page_globals():
        return {"csrf": config.secret, "user": config.user}

    @app.get("/")
    def index():
        return redirect(url_for("label_page"))

    # --- labeling queue ----------------------------------------------------------------------
    @app.get("/label")
    def label_page():
        i, done = labeling.progress()
        queue = labeling.queue
        return render_template("label.html", queue=queue, index=i, item=None if i is None else queue.items[i],
                               done=done, can_undo=bool(labeling.answers))

    @app.get("/label/image/<int:index>")
    def queue_image(index: int):
        return _image_or_404(_queue_item(labeling, index).image)

    @app.post("/label/<int:index>")
    def answer(index: int):
        item = _queue_item(labeling, index)
        label = request.form.get("label", "")
        if label not in labeling.queue.labels:
            abort(400, f"unknown label {label!r}: choose one of {', '.join(labeling.queue.labels)}")
        outcome, row = store.add(item.image, label, config.user, "console")
        if outcome == "conflict":
            flash(f"{Path(item.image).name} is already labelled {row.label!r} by {row.by}: not changed", "error")
            labeling.skipped.add(index)
        elif outcome == "added":
            labeling.answers.append((index, row.id))
        return redirect(url_for("label_page"))

    @app.post("/label/<int:index>/skip")
    def skip(index: int):
        _queue_item(labeling, index)
        labeling.skipped.add(index)
        return redirect(url_for("label_page"))

    @app.post("/label/undo")
    def undo():
        if labeling.answers:
            index, label_id = labeling.answers.pop()
            try:
                store.undo(label_id)
            except VehiclekitError as e:
                flash(str(e), "error")
            labeling.skipped.discard(index)
            flash(f"undone: {Path(labeling.queue.items[index].image).name}", "info")
        return redirect(url_for("label_page"))

    # --- parking review ----------------------------------------------------------------------
    @app.get("/parking")
    def parking_page():
        parking_store = lot().store
        cases = parking_store.reviews("open")
        sessions = {s.id: s for s in parking_store.sessions("open")}
        for case in cases:
            for session_id, _ in case.candidates:
                if session_id not in sessions:
                    sessions[session_id] = parking_store.session(session_id)
        proposals = {case.id: parking_store.recorded_exit(case.exit_id) for case in cases if case.exit_id is not None}
        return render_template("parking.html", cases=cases, sessions=sessions, proposals=proposals,
                               open_sessions=sorted((s for s in sessions.values() if s.status == "open"),
                                                    key=lambda s: s.entry_time))

    @app.get("/parking/exit/<int:case_id>.jpg")
    def exit_image(case_id: int):
        return _image_or_404(lot().store.review(case_id).image)

    @app.get("/parking/entry/<int:session_id>.jpg")
    def entry_image(session_id: int):
        return _image_or_404(lot().store.session(session_id).entry_image)

    @app.post("/parking/<int:case_id>")
    def resolve(case_id: int):
        choice = request.form.get("session", "")
        if choice != "none" and not choice.isdigit():
            abort(400, "the form's session must be a session number or 'none'; reload the review page")
        session_id = None if choice == "none" else int(choice)
        try:
            result = lot().resolve(case_id, session_id, config.user)
        except (StoreError, ValueError) as e:
            flash(f"case {case_id}: {e}", "error")
            return redirect(url_for("parking_page"))
        if session_id is None:
            flash(f"case {case_id}: no match, nothing charged", "info")
        else:
            flash(f"case {case_id}: session {result.session_id} charged {result.fee} {result.currency}", "info")
        return redirect(url_for("parking_page"))

    # --- traffic statistics ------------------------------------------------------------------
    @app.get("/stats")
    def stats_page():
        day, report = _day_report(config, request.args.get("day"))
        return render_template("stats.html", day=day, summary=report.summary() if report else None,
                               previous=day - timedelta(days=1), next=day + timedelta(days=1))

    @app.get("/stats/<day>.png")
    def stats_plot(day: str):
        from vehiclekit.apps.plots import plot_counts

        _, report = _day_report(config, day)
        if report is None:
            abort(404)
        with tempfile.TemporaryDirectory() as tmp:
            data = plot_counts(report, Path(tmp) / "counts.png").read_bytes()
        return send_file(io.BytesIO(data), mimetype="image/png")

    @app.errorhandler(VehiclekitError)
    def vehiclekit_error(e):
        return render_template("error.html", message=str(e)), 404 if isinstance(e, StoreError) else 400

    return app


def _queue_item(labeling: LabelSession, index: int):
    if labeling.queue is None or not 0 <= index < len(labeling.queue.items):
        abort(404, "no such queue item")
    return labeling.queue.items[index]


def _image_or_404(path: str | None):
    if not path or not Path(path).is_file():
        abort(404, "no picture stored for this vehicle")
    return send_file(Path(path).resolve())


def _day_report(config: ConsoleConfig, text: str | None):
    """(the local day shown, its hourly traffic report or None when nothing was recorded)."""
    from vehiclekit.apps.stats import traffic_report, zone
    from vehiclekit.apps.store import Store

    if config.stats_db is None:
        abort(404, "start the console with --stats-db to see traffic statistics")
    tz = zone(config.tz)
    try:
        day = date.fromisoformat(text) if text else datetime.now(tz).date()
    except ValueError:
        abort(400, "day must be YYYY-MM-DD")
    start = datetime.combine(day, time(), tz)
    events, vectors = Store(config.stats_db).events(start, datetime.combine(day + timedelta(days=1), time(), tz))
    return day, traffic_report(events, vectors, "hour", config.tz) if events else None
