"""Pictures the console serves from the paths its stores hold."""

from __future__ import annotations

from pathlib import Path

from flask import abort, send_file


def image_or_404(path: str | None):
    if not path or not Path(path).is_file():
        abort(404, "no picture stored for this vehicle")
    return send_file(Path(path).resolve())
