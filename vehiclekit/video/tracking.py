"""An IoU tracker: each track's box is predicted one frame ahead from its last motion and matched
to the frame's boxes greedily by overlap (Bochinski, Eiselein, Sikora, "High-Speed
Tracking-by-Detection Without Using Image Information", AVSS 2017, plus a constant-velocity shift).

Why not ByteTrack: supervision's ByteTrack (0.22.0, the last release that installs beside this
project's numpy 1.x and headless OpenCV) keeps a Kalman box in (centre, aspect, height) form that
balloons when a vehicle enters through the frame edge (its box grows while one side stays clipped):
fed the first top-down car's 12 entering motion boxes, its box grew to 606 px wide while the car's
was 202 px, and ``update_with_detections`` then dropped the car from its output (it re-matches
boxes to tracks at IoU 0.5). Here a track's box is the proposal itself, and matching only needs
overlap with where the track was heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vehiclekit.sdk.detector import iou_matrix


@dataclass
class Track:
    id: int
    box: np.ndarray                      # last matched box, xyxy
    first_frame: int
    last_frame: int
    hits: int = 1
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))   # centre px / frame

    def predicted(self, frame: int) -> np.ndarray:
        shift = self.velocity * (frame - self.last_frame)
        return self.box + np.array([shift[0], shift[1], shift[0], shift[1]], np.float32)


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


class IouTracker:
    """``update`` with one frame's boxes returns (track, box) for every track seen in that frame;
    a track unseen for more than ``max_misses`` frames is finished (:meth:`pop_finished`). A track is
    *confirmed* once seen in ``confirm_frames`` frames."""

    def __init__(self, iou_threshold: float = 0.2, max_misses: int = 8, confirm_frames: int = 3):
        self.iou_threshold, self.max_misses, self.confirm_frames = iou_threshold, max_misses, confirm_frames
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self.next_id = 1

    def update(self, boxes: np.ndarray, frame: int) -> list[tuple[Track, np.ndarray]]:
        predicted = np.array([t.predicted(frame) for t in self.active], np.float32).reshape(-1, 4)
        overlap = iou_matrix(predicted, boxes)
        seen: list[tuple[Track, np.ndarray]] = []
        used_tracks, used_boxes = set(), set()
        for flat in np.argsort(-overlap, axis=None, kind="stable"):
            t, b = divmod(int(flat), len(boxes))
            if overlap[t, b] < self.iou_threshold:
                break
            if t in used_tracks or b in used_boxes:
                continue
            used_tracks.add(t)
            used_boxes.add(b)
            track = self.active[t]
            motion = (centre(boxes[b]) - centre(track.box)) / max(frame - track.last_frame, 1)
            track.velocity = 0.5 * track.velocity + 0.5 * motion if track.hits > 1 else motion
            track.box, track.last_frame, track.hits = boxes[b].copy(), frame, track.hits + 1
            seen.append((track, boxes[b]))
        for b in sorted(set(range(len(boxes))) - used_boxes):
            track = Track(self.next_id, boxes[b].copy(), frame, frame)
            self.next_id += 1
            self.active.append(track)
            seen.append((track, boxes[b]))
        still = [t for t in self.active if frame - t.last_frame <= self.max_misses]
        self.finished += [t for t in self.active if frame - t.last_frame > self.max_misses]
        self.active = still
        return seen

    def confirmed(self, track: Track) -> bool:
        return track.hits >= self.confirm_frames

    def pop_finished(self, flush: bool = False) -> list[Track]:
        """Tracks that ended (all active ones too when ``flush``, at the end of the video)."""
        done, self.finished = self.finished, []
        if flush:
            done, self.active = done + self.active, []
        return done
