"""A labeling queue as Label Studio tasks, and the project's labeling config.

Tasks follow Label Studio's documented JSON import format with pre-annotations
(https://labelstud.io/guide/predictions, https://labelstud.io/guide/task_format): each task is
``{"data": {"image": URL, ...}, "predictions": [{"model_version", "score", "result": [{"from_name":
"label", "to_name": "image", "type": "choices", "value": {"choices": [GUESS]}}]}]}``. Image URLs are
``/data/local-files/?d=REL`` with ``REL`` relative to the images root, which Label Studio serves from
local storage (start it with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<images root>``). The export Label Studio writes back
(JSON or JSON-MIN) is read by ``train-vehicle import-labels`` (:mod:`vehiclekit.training.core.user_images`).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from vehiclekit.errors import DatasetError
from vehiclekit.labeling import LabelQueue

FROM_NAME, TO_NAME = "label", "image"


def local_files_url(image: Path, root: Path) -> str:
    try:
        rel = image.resolve().relative_to(root.resolve())
    except ValueError:
        raise DatasetError(f"{image} is not under the images root {root}: pass --images-root DIR that holds "
                           "every pool image (Label Studio serves local files from one document root)") from None
    return "/data/local-files/?d=" + quote(rel.as_posix())


def tasks(queue: LabelQueue, root: Path) -> list[dict]:
    """Label Studio tasks for ``queue``, the model's guess pre-filled as a prediction."""
    out = []
    for item in queue.items:
        out.append({
            "data": {TO_NAME: local_files_url(Path(item.image), root), "guess": item.guess,
                     "uncertainty": round(item.uncertainty, 6)},
            "predictions": [{
                "model_version": queue.model,
                "score": round(item.confidence, 6),
                "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                            "value": {"choices": [item.guess]}}],
            }],
        })
    return out


def labeling_config(labels: tuple[str, ...]) -> str:
    """The Label Studio labeling interface the tasks are written for (one single choice per image)."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)} hotkey=\"{i + 1}\"/>" if i < 9
                        else f"    <Choice value={quoteattr(label)}/>" for i, label in enumerate(labels))
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInLine="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def write(queue: LabelQueue, path: Path, root: Path) -> tuple[Path, Path]:
    """Write the tasks to ``path`` and the labeling config beside it (``<stem>.label-config.xml``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks(queue, root), indent=1) + "\n")
    config = path.with_name(path.stem + ".label-config.xml")
    config.write_text(labeling_config(queue.labels))
    return path, config
