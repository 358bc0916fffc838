"""The console's labeling page: one queue image at a time, answered, skipped or undone by keyboard."""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask, abort, flash, redirect, render_template, request, url_for

from vehiclekit.apps.console.pictures import image_or_404
from vehiclekit.errors import VehiclekitError
from vehiclekit.labeling import LabelQueue, LabelStore, image_key


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


def add_label_pages(app: Flask, user: str, labeling: LabelSession) -> None:
    """``/label``: the next queue image, its answer, skip and undo (stored with ``user``)."""
    store = labeling.store

    @app.get("/label")
    def label_page():
        i, done = labeling.progress()
        queue = labeling.queue
        return render_template("label.html", queue=queue, index=i, item=None if i is None else queue.items[i],
                               done=done, can_undo=bool(labeling.answers))

    @app.get("/label/image/<int:index>")
    def queue_image(index: int):
        return image_or_404(queue_item(labeling, index).image)

    @app.post("/label/<int:index>")
    def answer(index: int):
        item = queue_item(labeling, index)
        label = request.form.get("label", "")
        if label not in labeling.queue.labels:
            abort(400, f"unknown label {label!r}: choose one of {', '.join(labeling.queue.labels)}")
        outcome, row = store.add(item.image, label, user, "console")
        if outcome == "conflict":
            flash(f"{Path(item.image).name} is already labelled {row.label!r} by {row.by}: not changed", "error")
            labeling.skipped.add(index)
        elif outcome == "added":
            labeling.answers.append((index, row.id))
        return redirect(url_for("label_page"))

    @app.post("/label/<int:index>/skip")
    def skip(index: int):
        queue_item(labeling, index)
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


def queue_item(labeling: LabelSession, index: int):
    if labeling.queue is None or not 0 <= index < len(labeling.queue.items):
        abort(404, "no such queue item")
    return labeling.queue.items[index]
