"""Where vehiclekit looks for data and for models that are not shipped in the package."""

from __future__ import annotations

import os
from pathlib import Path

from vehiclekit.errors import DatasetNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"


def data_root(override: str | os.PathLike | None = None) -> Path:
    """The datasets folder: ``override`` (a ``--data`` flag), else ``$VEHICLEKIT_DATA``, else
    ``../shared/data`` next to the repository."""
    chosen = override or os.environ.get("VEHICLEKIT_DATA") or DEFAULT_SHARED / "data"
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"data root {root} does not exist: pass --data DIR or set VEHICLEKIT_DATA to the folder "
            "holding vehicle-types/, stanford-cars/, vehicle-reid/ and coco-vehicles/"
        )
    return root


def cache_dir() -> Path:
    """Where files derived from the shared data are kept (never committed; e.g. pretraining crops, the
    INT8 detector): ``$VEHICLEKIT_CACHE``, else ``$XDG_CACHE_HOME/vehiclekit``, else ``~/.cache/vehiclekit``."""
    base = os.environ.get("VEHICLEKIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vehiclekit"
    return Path(base).expanduser()


def models_dir() -> Path:
    """Folder for models that are not shipped with the package (the YOLOX detector):
    ``$VEHICLEKIT_MODELS``, else ``../shared/models`` next to the repository."""
    return Path(os.environ.get("VEHICLEKIT_MODELS") or DEFAULT_SHARED / "models").expanduser()
