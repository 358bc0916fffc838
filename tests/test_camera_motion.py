"""A camera that moves: found by phase correlation on real frames, nothing counted while it pans, and
the automatic choice between the detector and motion on the shared videos."""

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from vehiclekit.video.camera_motion import CameraMotion
from vehiclekit.video.counter import VideoCounter
from vehiclekit.video.lines import CountingLine
from vehiclekit.video.proposals import AutoProposals, DetectorProposals, MotionProposals
from vehiclekit.video.source import Frame, VideoSource

LINE = CountingLine("lane", (0.0, 216.0), (768.0, 216.0))
PAN_PX = 8       # per frame


@pytest.fixture(scope="module")
def top_down(data_dir):
    return data_dir / "videos" / "parking-lot-top-down.mp4"


@pytest.fixture(scope="module")
def still(top_down) -> np.ndarray:
    return next(iter(VideoSource(top_down))).image


def panned(image: np.ndarray, dy: float) -> np.ndarray:
    """The picture a camera tilted by ``dy`` pixels sees (borders reflected)."""
    return cv2.warpAffine(image, np.float32([[1, 0, 0], [0, 1, dy]]), image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def test_a_fixed_camera_never_moves_even_while_cars_cross_it(top_down):
    camera, moving = CameraMotion(), []
    for frame in VideoSource(top_down):
        camera.update(frame.image)
        moving.append(camera.moving)
    assert len(moving) == 377 and not any(moving)


def test_a_pan_is_found_after_a_few_frames(still):
    camera = CameraMotion(window=5)
    shifts = [camera.update(panned(still, PAN_PX * i)) for i in range(8)]
    assert camera.moving and shifts[-1] == pytest.approx(PAN_PX, abs=1)


def test_a_blank_picture_is_no_motion():
    camera = CameraMotion(window=2)
    for _ in range(4):
        camera.update(np.zeros((240, 320, 3), np.uint8))
    assert not camera.moving


def parked_car_count(still: np.ndarray, pan: bool) -> int:
    """A parked car's box, 60 px tall, starting above the line; it sweeps down across the line in the
    picture because the camera tilts (``pan``) or because it drives (no pan)."""
    frames = [Frame(i, i / 25, panned(still, PAN_PX * i) if pan else still) for i in range(32)]

    def proposals(image):
        i = proposals.frame = proposals.frame + 1
        return np.array([[300, 100 + PAN_PX * i, 420, 160 + PAN_PX * i]], np.float32), np.ones(1, np.float32)

    proposals.frame = -1
    counter = VideoCounter([LINE], proposals, lambda crops: ("car", 0.9), datetime(2026, 12, 2, tzinfo=UTC))
    return len(counter.run(frames_source(frames), progress=False).crossings)


def frames_source(frames):
    class Source:
        name, fps, frame_count = "frames", 25.0, len(frames)

        def __iter__(self):
            return iter(frames)

    return Source()


def test_nothing_crosses_while_the_camera_pans(still):
    assert parked_car_count(still, pan=False) == 1      # the same boxes over a still picture do cross
    assert parked_car_count(still, pan=True) == 0


def test_auto_switches_to_motion_when_the_detector_misses_the_first_car_seen_from_above(top_down):
    auto = AutoProposals(DetectorProposals(0.1, threads=1), MotionProposals(), seconds=30.0)
    for frame in VideoSource(top_down):
        auto(frame.image)
        if auto.choice:
            break
    # the first car enters at frame ~55 and is counted crossing mid-height at frame 91: decided in between
    assert auto.choice == "motion" and 55 <= frame.index < 91


def test_auto_keeps_the_detector_for_a_camera_that_pans(still):
    auto = AutoProposals(DetectorProposals(0.1, threads=1), MotionProposals(), seconds=30.0)
    for i in range(14):
        auto(panned(still, PAN_PX * i))
    assert auto.choice == "detector"
