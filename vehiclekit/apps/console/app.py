"""The console's Flask application (see :mod:`vehiclekit.apps.console`)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, redirect, render_template, request, url_for

from vehiclekit.apps.console.label_pages import LabelSession, add_label_pages
from vehiclekit.apps.console.parking_pages import add_parking_pages
from vehiclekit.apps.console.stats_pages import add_stats_pages
from vehiclekit.apps.errors import StoreError
from vehiclekit.errors import VehiclekitError
from vehiclekit.labeling import LabelQueue, LabelStore


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


def create_app(config: ConsoleConfig) -> Flask:
    """The console: the request guards, then one module per page (labeling, parking review, traffic)."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret, MAX_CONTENT_LENGTH=64 * 1024)
    labeling = LabelSession(LabelQueue.load(config.queue) if config.queue else None, LabelStore(config.labels))

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

    add_label_pages(app, config.user, labeling)
    add_parking_pages(app, config.user, config.parking_db, config.tariff)
    add_stats_pages(app, config.stats_db, config.tz)

    @app.errorhandler(VehiclekitError)
    def vehiclekit_error(e):
        return render_template("error.html", message=str(e)), 404 if isinstance(e, StoreError) else 400

    return app
