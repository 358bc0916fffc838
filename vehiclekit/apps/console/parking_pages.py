"""The console's parking review page: each exit not charged beside its candidate entries, settled
once by a person (a barrier's unsure exits, and a settlement's with its proposal)."""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask, abort, flash, redirect, render_template, request, url_for

from vehiclekit.apps.console.pictures import image_or_404
from vehiclekit.apps.errors import StoreError


def add_parking_pages(app: Flask, user: str, parking_db: str | None, tariff: Path | None) -> None:
    """``/parking``: open review cases, their pictures, and the decision (stored with ``user``)."""

    @functools.cache
    def open_lot():                      # the store and the tariff are opened once, on first use
        from vehiclekit.apps.parking import ParkingLot
        from vehiclekit.apps.parking_store import ParkingStore
        from vehiclekit.apps.tariff import load_tariff

        return ParkingLot(load_tariff(tariff), ParkingStore(parking_db))

    def lot():
        if parking_db is None or tariff is None:
            abort(404, "start the console with --parking-db and --tariff to review parking exits")
        return open_lot()

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
        return image_or_404(lot().store.review(case_id).image)

    @app.get("/parking/entry/<int:session_id>.jpg")
    def entry_image(session_id: int):
        return image_or_404(lot().store.session(session_id).entry_image)

    @app.post("/parking/<int:case_id>")
    def resolve(case_id: int):
        choice = request.form.get("session", "")
        if choice != "none" and not choice.isdigit():
            abort(400, "the form's session must be a session number or 'none'; reload the review page")
        session_id = None if choice == "none" else int(choice)
        try:
            result = lot().resolve(case_id, session_id, user)
        except (StoreError, ValueError) as e:
            flash(f"case {case_id}: {e}", "error")
            return redirect(url_for("parking_page"))
        if session_id is None:
            flash(f"case {case_id}: no match, nothing charged", "info")
        else:
            flash(f"case {case_id}: session {result.session_id} charged {result.fee} {result.currency}", "info")
        return redirect(url_for("parking_page"))
