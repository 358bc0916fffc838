"""``train-vehicle harvest``: videos, streams and frame folders -> vehicle crops in WebDataset shards.

Each source runs the detector and the IoU tracker of ``vehiclekit count`` (:mod:`vehiclekit.video`):
proposals per frame, tracks across frames. A track gives at most ``--crops-per-track`` crops, spread
over its life, the largest and sharpest of each stretch (:mod:`.track_crops`), never every frame;
tracks seen in fewer than ``--min-track-frames`` frames (mostly false detections) give none. Every
crop is then checked against all crops kept so far by 64-bit dHash (:mod:`.dhash`), which removes
the near-duplicates the tracker could not join: one vehicle split into two tracks, a parked car, a
recording given twice; with ``--dedup-against``, also crops an existing corpus holds. The rest is
written to ``--out`` as shards with a manifest (:mod:`.shards`), each crop with its metadata: camera
(the source as given), session, frame index and seconds from the start, track id, box (xyxy pixels
of the frame), detector score and class, quality and sharpness.

A folder of frames named ``SESSION-NUMBER.jpg`` is one recording per session, the NUMBER its frame
index (:meth:`~vehiclekit.video.source.VideoSource.sessions`). A sparsely sampled folder (traffic-cctv
keeps every 4th frame of 25 fps video) moves a vehicle 4x farther between frames than the tracker
expects: small fast cars overlap their last box less than the IoU threshold and their tracks break
into pieces, each piece giving its own crops. The tracker's miss budget counts frame numbers (8 =
two sampled frames). What breaking leaves behind, near-identical crops of one vehicle, is what the
dHash check removes; the duplicate rate reported says how much it caught.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from array import array
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vehiclekit.errors import VehiclekitError
from vehiclekit.models import zoo
from vehiclekit.training.corpus.dhash import DuplicateIndex, dhash
from vehiclekit.training.corpus.shards import PATTERN, ShardWriter, read_samples, write_manifest
from vehiclekit.training.corpus.track_crops import TrackCrops, candidate
from vehiclekit.video.proposals import AutoProposals, DetectorProposals, MotionProposals
from vehiclekit.video.source import VideoSource
from vehiclekit.video.tracking import IouTracker

EPILOG = """\
examples:
  train-vehicle harvest ../shared/data/videos/*.mp4 ../shared/data/videos/*.gif --out runs/corpus/videos
  train-vehicle harvest ../shared/data/traffic-cctv/images --detector-model yolox-nano-traffic --out runs/corpus/cctv
  train-vehicle harvest rtsp://cam7/stream --max-frames 90000 --out shards/cam7    # Ctrl-C also ends a stream cleanly
then: train-vehicle pretrain --shards runs/corpus/cctv ...  |  finetune --unlabeled runs/corpus/cctv ...
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Run the detector and tracker of `vehiclekit count` over video files, folders of frames and streams; keep "
                     "a few crops per track (spread over its life, the largest and sharpest), drop near-duplicates across "
                     "tracks by 64-bit dHash, and write the crops with their metadata (camera, session, frame, seconds, "
                     "track, box, detector score and class) as WebDataset shards with a manifest.json. A folder of frames "
                     "sampled sparsely (every 4th frame) breaks fast vehicles' tracks into pieces; the dHash check removes "
                     "what that leaves twice, and the duplicate rate is reported.")
    p.epilog, p.formatter_class = EPILOG, argparse.RawDescriptionHelpFormatter
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="video file, folder of frames (SESSION-NUMBER.jpg: one recording per session) or stream URL")
    p.add_argument("--out", required=True, type=Path, help="shard directory to create (crops-NNNNNN.tar + manifest.json)")
    p.add_argument("--crops-per-track", type=int, default=3, help="crops kept per track, spread over its life (default: %(default)s)")
    p.add_argument("--min-track-frames", type=int, default=2, help="frames a track must be seen in to give crops (default: %(default)s)")
    p.add_argument("--min-side", type=int, default=24, help="smallest crop side in pixels (default: %(default)s)")
    p.add_argument("--max-distance", type=int, default=6,
                   help="dHash bits (of 64) within which two crops are duplicates; -1 keeps all (default: %(default)s)")
    p.add_argument("--dedup-against", nargs="+", default=[], metavar="SHARDS",
                   help="shards harvested before (a directory, pattern or URLs): crops within --max-distance of one of "
                        "theirs are dropped too, so a later day or another camera adds only what the corpus lacks")
    p.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default: %(default)s)")
    p.add_argument("--detector", choices=("auto", "yolox", "motion"), default="auto",
                   help="as `vehiclekit count`: auto (default: the detector, or motion where the detector misses the movers, "
                        "e.g. cars from straight above), yolox, motion; motion boxes have class 'moving'")
    p.add_argument("--detector-model", default=zoo.DEFAULT_DETECTOR,
                   choices=zoo.names("detection"),
                   help="zoo detector; yolox-nano-traffic for fixed traffic cameras seen from above (default: %(default)s)")
    p.add_argument("--score", type=float, default=0.3, help="lowest detection score (default: %(default)s)")
    p.add_argument("--iou", type=float, default=0.2, help="tracker: overlap with a track's predicted box to continue it")
    p.add_argument("--max-misses", type=int, default=8, help="tracker: frame numbers a track may go unseen (default: %(default)s)")
    p.add_argument("--max-frames", type=int, help="stop each source after this many frames (streams)")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of a folder of frames, for the seconds field")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a stream to open")
    p.add_argument("--url", help="Triton server for the detector (http://host:8000 or grpc://host:8001)")
    p.add_argument("--threads", type=int, help="inference threads (default: ONNX Runtime's)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the crops (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    if next(args.out.glob("crops-*.tar"), None) is not None:
        raise VehiclekitError(f"--out {args.out} already holds shards: give a new directory")
    if not -1 <= args.max_distance < 64:
        raise VehiclekitError(f"--max-distance must be -1 (keep all) to 63 bits, got {args.max_distance}")
    if args.dedup_against and args.max_distance < 0:
        raise VehiclekitError("--dedup-against needs dedup: give --max-distance 0..63, not -1")
    sources = [(s, VideoSource.sessions(s, args.timeout, args.fps)) for s in args.sources]   # every source checked first
    index = DuplicateIndex(args.max_distance, corpus_hashes(args.dedup_against)) if args.max_distance >= 0 else None
    detector = DetectorProposals(args.score, args.url, args.threads, args.detector_model) if args.detector != "motion" else None
    harvest = Harvest(args, ShardWriter(args.out, args.shard_size), index)
    started = time.perf_counter()
    total = sum(r.frame_count or 0 for _, recordings in sources for r in recordings) or None
    with tqdm(total=total, desc="harvest", unit="frame", mininterval=1) as bar:
        try:
            for name, recordings in sources:
                for recording in recordings:
                    harvest.recording(name, recording, proposals_for(args, detector, recording), bar)
        except KeyboardInterrupt:
            print("\nstopped: writing what was harvested so far", file=sys.stderr)
    manifest = harvest.finish(time.perf_counter() - started)
    print(summary_line(manifest))
    return 0


def corpus_hashes(specs: list[str]) -> np.ndarray:
    """The dHashes of every crop in the shards ``specs`` (from their metadata; computed from the image
    for a crop without one), streamed."""
    hashes = array("Q")                    # 8 bytes a crop
    for spec in specs:
        for sample in tqdm(read_samples(spec), desc=f"index {spec}", unit="crop", mininterval=1, leave=False):
            h = sample.meta.get("dhash")
            hashes.append(int(h, 16) if h else dhash(cv2.imdecode(np.frombuffer(sample.jpg, np.uint8), cv2.IMREAD_COLOR)))
        print(f"--dedup-against {spec}: {len(hashes)} crops indexed so far", file=sys.stderr)
    return np.frombuffer(hashes, np.uint64)


def proposals_for(args, detector, recording: VideoSource):
    """A fresh proposal function per recording (motion learns each scene's background anew)."""
    if args.detector == "yolox":
        return detector
    if args.detector == "motion":
        return MotionProposals()
    seconds = recording.frame_count / recording.fps if recording.frame_count else None
    return AutoProposals(detector, MotionProposals(), seconds)


def labels_of(proposals, n: int) -> list[str]:
    """The detector class of each of the ``n`` boxes ``proposals`` just returned ('moving' for motion)."""
    if isinstance(proposals, MotionProposals) or getattr(proposals, "choice", None) == "motion":
        return ["moving"] * n
    detector = proposals.detector if isinstance(proposals, AutoProposals) else proposals
    return list(detector.labels)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


class Harvest:
    """Crops from recordings into ``writer``, deduplicated by ``index`` (None: keep all; its first
    hashes may be an earlier corpus's); counts everything for the manifest."""

    def __init__(self, args, writer: ShardWriter, index: DuplicateIndex | None):
        self.args, self.writer, self.index = args, writer, index
        self.known = len(index) if index is not None else 0     # hashes of --dedup-against
        self.sources: list[dict] = []
        self.per_track: Counter = Counter()        # crops written per track -> number of tracks

    def recording(self, camera: str, recording: VideoSource, proposals, bar) -> None:
        stats = {"camera": camera, "recording": recording.name, "frames": 0, "tracks": 0, "tracks_kept": 0,
                 "candidates": 0, "duplicates": 0, "corpus_duplicates": 0, "crops": 0}
        prefix = f"s{len(self.sources):03d}_{_slug(Path(recording.name).name)}"
        tracker = IouTracker(self.args.iou, self.args.max_misses, self.args.min_track_frames)
        logs: dict[int, TrackCrops] = {}
        for frame in recording:
            if self.args.max_frames and stats["frames"] >= self.args.max_frames:
                break
            boxes, scores = proposals(frame.image)
            labels = labels_of(proposals, len(boxes))
            for track, box in tracker.update(boxes, frame.index):
                i = int(np.flatnonzero((boxes == box).all(1))[0])
                c = candidate(frame.image, box, frame.index, frame.seconds, scores[i], labels[i], self.args.min_side)
                if c is not None:
                    logs.setdefault(track.id, TrackCrops(track.first_frame, self.args.crops_per_track)).offer(c)
            self._finish(tracker.pop_finished(), logs, stats, camera, recording.name, prefix)
            stats["frames"] += 1
            bar.update()
        self._finish(tracker.pop_finished(flush=True), logs, stats, camera, recording.name, prefix)
        self.sources.append(stats)

    def _finish(self, tracks, logs, stats, camera, session, prefix) -> None:
        for track in tracks:
            stats["tracks"] += 1
            log = logs.pop(track.id, None)
            if log is None or track.hits < self.args.min_track_frames:
                continue
            stats["tracks_kept"] += 1
            written = 0
            for c in log.choose(track.last_frame):
                stats["candidates"] += 1
                h = dhash(c.crop)
                original = self.index.add(h) if self.index is not None else None
                if original is not None:
                    stats["duplicates"] += 1
                    stats["corpus_duplicates"] += original < self.known
                    continue
                ok, jpg = cv2.imencode(".jpg", c.crop, [cv2.IMWRITE_JPEG_QUALITY, self.args.quality])
                meta = {"camera": camera, "session": Path(session).name, "frame": c.frame, "seconds": round(c.seconds, 3),
                        "track": track.id, "track_frames": track.hits, "box": list(c.box), "score": round(c.score, 4),
                        "label": c.label, "quality": round(c.quality, 1), "sharpness": round(c.sharpness, 1),
                        "dhash": f"{h:016x}"}
                self.writer.write(f"{prefix}-f{c.frame:07d}-t{track.id:06d}", jpg.tobytes(), meta)
                written += 1
            stats["crops"] += written
            self.per_track[written] += 1

    def finish(self, seconds: float) -> dict:
        shards = self.writer.close()
        candidates = sum(s["candidates"] for s in self.sources)
        duplicates = sum(s["duplicates"] for s in self.sources)
        tracks = sum(self.per_track.values())
        manifest = {
            "format": "webdataset", "members": ["jpg", "json"], "pattern": PATTERN.replace("{:06d}", "NNNNNN"),
            "shards": shards, "samples": sum(s["samples"] for s in shards), "sources": self.sources,
            "tracks_kept": tracks, "crops_per_track": {
                "max": self.args.crops_per_track, "mean": round(sum(k * n for k, n in self.per_track.items()) / max(tracks, 1), 3),
                "histogram": {str(k): n for k, n in sorted(self.per_track.items())}},
            "dedup": {"method": "dhash-64", "max_distance": self.args.max_distance, "candidates": candidates,
                      "duplicates": duplicates, "rate": round(duplicates / max(candidates, 1), 4),
                      "against": list(self.args.dedup_against), "against_crops": self.known,
                      "corpus_duplicates": sum(s["corpus_duplicates"] for s in self.sources)},
            "frames": sum(s["frames"] for s in self.sources), "seconds": round(seconds, 1),
            "command": command_line(self.args),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_manifest(self.args.out, manifest)
        return manifest


def command_line(args) -> str:
    """The command as typed (in-process calls: rebuilt from the parsed options)."""
    if "harvest" in sys.argv[1:2]:
        return shlex.join(["train-vehicle", *sys.argv[1:]])
    options = {k: str(v) for k, v in vars(args).items() if k not in ("func", "sources", "command") and v is not None}
    return shlex.join(["train-vehicle", "harvest", *map(str, args.sources), *(f"--{k.replace('_', '-')}={v}" for k, v in options.items())])


def summary_line(m: dict) -> str:
    d = m["dedup"]
    against = f", {d['corpus_duplicates']} of them already in --dedup-against" if d["against"] else ""
    return (f"{m['samples']} crops in {len(m['shards'])} shards from {m['frames']} frames of {len(m['sources'])} recordings "
            f"in {m['seconds']} s; {m['tracks_kept']} tracks, {m['crops_per_track']['mean']} crops per track; "
            f"duplicates {d['duplicates']} of {d['candidates']} ({d['rate']:.1%}, dHash <= {d['max_distance']} bits{against})")
