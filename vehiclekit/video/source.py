"""Frames from a video file, a folder of frames, or a network stream (OpenCV / FFmpeg).

A stream that cannot be opened is reported within ``timeout_s`` (OpenCV's open/read timeouts,
and a watchdog around the open call in case a backend ignores them), never a hang.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk.image import IMAGE_SUFFIXES, image_files

#: A frame extracted from a recording: ``SESSION-NUMBER`` (as Roboflow and ffmpeg name extracted frames).
FRAME_NAME = re.compile(r"^(?P<session>.+)-(?P<frame>\d+)$")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class VideoSourceError(VehiclekitError):
    """A video file, frame folder or stream cannot be read; the message says which and what to check."""


@dataclass(frozen=True)
class Frame:
    index: int
    seconds: float          # since the start of the source
    image: np.ndarray       # BGR uint8


def is_stream(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES)


def frame_name(stem: str) -> tuple[str, int]:
    """(session, frame number) of a frame file's stem ``SESSION-NUMBER``; a stem without a trailing
    number is a session of its own, frame 0."""
    match = FRAME_NAME.match(stem)
    return (match["session"], int(match["frame"])) if match else (stem, 0)


class VideoSource:
    """Iterate the frames of ``source``. ``fps`` is the source's frame rate (a frame folder has
    none: ``folder_fps``); ``frame_count`` is None for a stream."""

    def __init__(self, source: str | Path, timeout_s: float = 10.0, folder_fps: float = 10.0):
        self.name = str(source)
        self.files: list[Path] | None = None
        self.numbers: list[int] | None = None     # a session's frame numbers (:meth:`sessions`)
        self.capture = None
        if Path(self.name).is_dir():
            self.files = image_files(self.name)
            if not self.files:
                raise VideoSourceError(f"{self.name} holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))})")
            self.fps, self.frame_count = folder_fps, len(self.files)
            return
        if not is_stream(self.name) and not Path(self.name).is_file():
            raise VideoSourceError(f"{self.name} is neither a video file, a folder of frames nor a stream URL "
                                   f"({', '.join(s.rstrip(':/') for s in STREAM_SCHEMES)})")
        self.capture = _open_capture(self.name, timeout_s)
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 25.0
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not is_stream(self.name) else None

    @classmethod
    def sessions(cls, source: str | Path, timeout_s: float = 10.0, folder_fps: float = 10.0) -> list["VideoSource"]:
        """``source`` cut into its recordings: a folder of frames named ``SESSION-NUMBER.jpg`` gives one
        source per session (named ``FOLDER/SESSION``), in frame-number order, whose frame index is that
        NUMBER, so the gaps of a sparsely sampled folder (every 4th frame) stay visible to a tracker;
        a video file or a stream is one recording."""
        whole = cls(source, timeout_s, folder_fps)
        if whole.files is None:
            return [whole]
        groups: dict[str, list[tuple[int, Path]]] = defaultdict(list)
        for path in whole.files:
            session, number = frame_name(path.stem)
            groups[session].append((number, path))
        parts = []
        for session, frames in sorted(groups.items()):
            part = copy.copy(whole)
            frames.sort()
            part.name, part.frame_count = f"{whole.name.rstrip('/')}/{session}", len(frames)
            part.numbers, part.files = [n for n, _ in frames], [p for _, p in frames]
            parts.append(part)
        return parts

    def __iter__(self) -> Iterator[Frame]:
        if self.files is not None:
            for i, path in enumerate(self.files):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    raise VideoSourceError(f"frame {path} cannot be decoded")
                index = self.numbers[i] if self.numbers is not None else i
                yield Frame(index, index / self.fps, image)
            return
        i = 0
        try:
            while True:
                ok, image = self.capture.read()
                if not ok:
                    break
                yield Frame(i, i / self.fps, image)
                i += 1
        finally:
            self.capture.release()


def _open_capture(name: str, timeout_s: float):
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(timeout_s * 1000)]
    result: dict = {}

    def open_it() -> None:
        result["capture"] = cv2.VideoCapture(name, cv2.CAP_FFMPEG, params)

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    opener.join(timeout_s + 2.0)
    capture = result.get("capture")
    if capture is None or not capture.isOpened():
        what = "stream" if is_stream(name) else "video file"
        hint = ("check the address, port, credentials and that the camera is on and reachable from here"
                if is_stream(name) else "check that it is a video OpenCV/FFmpeg can decode (e.g. H.264 MP4, GIF)")
        waited = f" within {timeout_s:g} s" if is_stream(name) else ""
        raise VideoSourceError(f"cannot open {what} {name}{waited}: {hint}")
    return capture
