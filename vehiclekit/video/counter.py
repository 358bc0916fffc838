"""Count vehicles crossing lines in a video, by type: proposals -> tracks -> crossings -> typed events.

A crossing is reported when its track ends (left the view, or the video ended), because the type is
voted over the track's life: the classifier runs on up to ``votes`` of the track's largest crops
(those not cut by the frame edge first) and their probabilities are averaged — one bad frame does
not decide. Only confirmed tracks (seen in ``confirm_frames`` frames) count; a track counts at most
once per line and direction (:mod:`.lines`). ``zone`` (a polygon) ignores proposals whose box
centre lies outside it. While the camera itself moves (a pan, :mod:`.camera_motion`) nothing
crosses: a line drawn on the picture means nothing then, and parked cars sweep across it; each
track's side of a line is forgotten and learnt again once the camera is still. The best crop
(largest, not cut by the edge) goes with each crossing, for
the statistics store, the parking lot or a person.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
from tqdm import tqdm

from vehiclekit.video.camera_motion import CameraMotion
from vehiclekit.video.lines import CountingLine, LineCounter
from vehiclekit.video.source import Frame, VideoSource
from vehiclekit.video.tracking import IouTracker, Track

EDGE_MARGIN = 2.0           # px: a box this close to the frame edge is cut by it


@dataclass
class Crossing:
    """One vehicle crossing one line."""

    line: str
    direction: str                   # in | out
    track_id: int
    frame: int
    time: datetime
    vehicle_type: str
    type_confidence: float
    crop: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        return {"line": self.line, "direction": self.direction, "track": self.track_id, "frame": self.frame,
                "time": self.time.isoformat(), "vehicle_type": self.vehicle_type,
                "type_confidence": round(self.type_confidence, 4)}


@dataclass
class CountResult:
    lines: list[CountingLine]
    crossings: list[Crossing]
    frames: int
    seconds: float                   # wall time spent
    tracks: int                      # confirmed tracks

    def summary(self) -> dict:
        per_line = {}
        for line in self.lines:
            mine = [c for c in self.crossings if c.line == line.name]
            by_type: dict[str, Counter] = defaultdict(Counter)
            for c in mine:
                by_type[c.vehicle_type][c.direction] += 1
            per_line[line.name] = {"in": sum(c.direction == "in" for c in mine),
                                   "out": sum(c.direction == "out" for c in mine),
                                   "by_type": {t: {"in": n["in"], "out": n["out"]} for t, n in sorted(by_type.items())}}
        return {"in": sum(v["in"] for v in per_line.values()), "out": sum(v["out"] for v in per_line.values()),
                "by_type": _totals(per_line), "lines": per_line, "tracks": self.tracks, "frames": self.frames,
                "frames_per_second": round(self.frames / self.seconds, 2) if self.seconds else None,
                "crossings": [c.summary() for c in self.crossings]}


def _totals(per_line: dict) -> dict:
    totals: dict[str, Counter] = defaultdict(Counter)
    for line in per_line.values():
        for vehicle_type, n in line["by_type"].items():
            totals[vehicle_type].update(n)
    return {t: {"in": n["in"], "out": n["out"]} for t, n in sorted(totals.items())}


@dataclass
class _TrackLog:
    """What a track keeps for typing: its largest crops and the crossings waiting for its type."""

    crops: list[tuple[bool, float, np.ndarray]] = field(default_factory=list)    # (whole, area, crop)
    pending: list[tuple[str, str, int]] = field(default_factory=list)           # (line, direction, frame)


class VideoCounter:
    """Run with :meth:`run` (until the source ends, or Ctrl-C: the tracks seen so far are still
    finished, typed and counted); ``classify(crops) -> (label, confidence)`` types a track from its crops
    (see :func:`vote`); ``on_crossing`` is called with each :class:`Crossing` as soon as it is known;
    ``draw(frame, tracks, crossed)`` gets every frame with its tracks and the (line, direction)
    crossings that happened in it, typed or not yet (for an annotated video)."""

    def __init__(self, lines: list[CountingLine], proposals: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 classify: Callable[[list[np.ndarray]], tuple[str, float]], start: datetime,
                 tracker: IouTracker | None = None, zone: np.ndarray | None = None, votes: int = 5,
                 on_crossing: Callable[[Crossing], None] | None = None,
                 draw: Callable[[Frame, list[tuple[Track, np.ndarray]], list[tuple[str, str]]], None] | None = None,
                 camera: CameraMotion | None = None):
        if not lines:
            raise ValueError("give at least one counting line")
        self.lines, self.proposals, self.classify, self.start = lines, proposals, classify, start
        self.counters = [LineCounter(line) for line in lines]
        self.tracker = tracker or IouTracker()
        self.zone, self.votes, self.on_crossing, self.draw = zone, votes, on_crossing, draw
        self.camera = camera or CameraMotion()
        self.logs: dict[int, _TrackLog] = defaultdict(_TrackLog)
        self.crossings: list[Crossing] = []
        self.confirmed_ids: set[int] = set()
        self.fps = 25.0

    def run(self, source: VideoSource, progress: bool = True) -> CountResult:
        self.fps = source.fps
        started, frames = time.perf_counter(), 0
        bar = tqdm(total=source.frame_count, desc=f"counting {source.name}", unit="frame", disable=not progress,
                   mininterval=1)
        try:
            for frame in source:
                self.step(frame)
                frames += 1
                bar.update()
        except KeyboardInterrupt:        # a stream is stopped with Ctrl-C: count what was seen so far
            print(f"\nstopped after {frames} frames", flush=True)
        bar.close()
        self._finish(self.tracker.pop_finished(flush=True))
        return CountResult(self.lines, self.crossings, frames, time.perf_counter() - started, len(self.confirmed_ids))

    def step(self, frame: Frame) -> None:
        boxes, _ = self.proposals(frame.image)
        if self.zone is not None and len(boxes):
            inside = [cv2.pointPolygonTest(self.zone, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), False) >= 0 for b in boxes]
            boxes = boxes[np.array(inside, bool)]
        seen = self.tracker.update(boxes, frame.index)
        height, width = frame.image.shape[:2]
        crossed: list[tuple[str, str]] = []
        self.camera.update(frame.image)
        if self.camera.moving:
            for counter in self.counters:
                counter.sides.clear()
        for track, box in seen:
            log = self.logs[track.id]
            self._keep_crop(log, frame.image, box, width, height)
            for counter in self.counters if not self.camera.moving else ():
                direction = counter.update(track.id, box)
                if direction is not None:
                    log.pending.append((counter.line.name, direction, frame.index))
                    crossed.append((counter.line.name, direction))
        self._finish(self.tracker.pop_finished())
        if self.draw is not None:
            self.draw(frame, seen, crossed)

    def _keep_crop(self, log: _TrackLog, image: np.ndarray, box: np.ndarray, width: int, height: int) -> None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        if x2 - x1 < 4 or y2 - y1 < 4:
            return
        whole = box[0] > EDGE_MARGIN and box[1] > EDGE_MARGIN and box[2] < width - EDGE_MARGIN and box[3] < height - EDGE_MARGIN
        area = float((x2 - x1) * (y2 - y1))
        if len(log.crops) < self.votes or (whole, area) > log.crops[-1][:2]:
            log.crops.append((whole, area, image[y1:y2, x1:x2].copy()))
            log.crops.sort(key=lambda c: c[:2], reverse=True)
            del log.crops[self.votes:]

    def _finish(self, tracks: Iterable[Track]) -> list[Crossing]:
        new = []
        for track in tracks:
            log = self.logs.pop(track.id, None)
            if log is None or not self.tracker.confirmed(track):
                continue
            self.confirmed_ids.add(track.id)
            if not log.pending or not log.crops:
                continue
            vehicle_type, confidence = self.classify([c for _, _, c in log.crops])
            for line, direction, frame in log.pending:
                crossing = Crossing(line, direction, track.id, frame, self.start + timedelta(seconds=frame / self.fps),
                                    vehicle_type, confidence, log.crops[0][2])
                new.append(crossing)
                if self.on_crossing is not None:
                    self.on_crossing(crossing)
        self.crossings += new
        return new


def vote(classifier) -> Callable[[list[np.ndarray]], tuple[str, float]]:
    """A track typer: average the SDK classifier's probabilities over the crops, take the best."""

    def classify(crops: list[np.ndarray]) -> tuple[str, float]:
        predictions = classifier.predict_batch(crops)
        labels = list(predictions[0].probabilities)
        mean = np.mean([[p.probabilities[label] for label in labels] for p in predictions], axis=0)
        best = int(mean.argmax())
        return labels[best], float(mean[best])

    return classify
