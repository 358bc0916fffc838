"""Near-duplicate crops by perceptual hash: a 64-bit difference hash and a Hamming-distance index.

dHash (N. Krawetz, "Kind of Like That", The Hacker Factor Blog, 2013): the image in grey, shrunk to
9x8 pixels (area interpolation), one bit per pair of horizontal neighbours: 1 where the left pixel is
brighter. It survives re-encoding, small shifts, scaling and brightness changes, and two crops whose
hashes differ in at most ``max_distance`` of the 64 bits count as the same picture (Krawetz: 0 the
same image, up to ~10 a variation of it). Different vehicles at one spot of a fixed camera differ in
far more bits than one vehicle in two consecutive frames, so a small threshold (default 6) removes
what the tracker did not join (a track broken in two, a parked car over hours, the same file twice)
and keeps distinct vehicles.

Search (:class:`DuplicateIndex`): multi-index hashing (Norouzi, Punjani, Fleet, "Fast Search in
Hamming Space with Multi-Index Hashing", CVPR 2012). Cut the 64 bits into ``max_distance + 1``
blocks. Two hashes within ``max_distance`` bits then agree exactly on at least one block
(pigeonhole). Each block keeps its values sorted, so the only hashes compared in full are those
that share a block value with the new one. New hashes first go to a small unsorted tier that is
scanned linearly; when it reaches a sixteenth of the sorted part (at least ``MERGE_AT``), it is
merged in and the blocks are sorted again. Memory is 8 bytes per hash plus 6 per block (16-bit block
values from ``max_distance`` 3 on). A harvest can start from the hashes of an existing corpus
(``--dedup-against``), so crops already in it are not written again.
"""

from __future__ import annotations

import cv2
import numpy as np

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def dhash(image: np.ndarray) -> int:
    """The 64-bit difference hash of a BGR (or grey) image."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, :-1] > small[:, 1:]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each ``uint64`` in ``x``."""
    return _POPCOUNT[x.view(np.uint8)].reshape(-1, 8).sum(1, dtype=np.int32)


class DuplicateIndex:
    """Hashes seen so far, searched by multi-index hashing. :meth:`add` returns the position of a
    stored hash within ``max_distance`` bits (a duplicate: the new hash is not stored), or None (new:
    stored). Positions count insertions from 0, with the ``known`` hashes first."""

    #: The unsorted tier is merged into the sorted one when it holds this many hashes, or a sixteenth of
    #: the sorted tier when that is more.
    MERGE_AT = 4096

    def __init__(self, max_distance: int = 6, known: np.ndarray | list[int] = ()):
        if not 0 <= max_distance < 64:
            raise ValueError(f"max_distance must be 0..63 bits, got {max_distance}")
        self.max_distance = max_distance
        bounds = np.linspace(0, 64, max_distance + 2).round().astype(int)
        self.blocks = [(int(lo), (1 << int(hi - lo)) - 1) for lo, hi in zip(bounds[:-1], bounds[1:])]   # (shift, mask)
        widest = int(np.diff(bounds).max())
        self.key_type = np.uint16 if widest <= 16 else np.uint32 if widest <= 32 else np.uint64
        self.hashes = np.asarray(known, dtype=np.uint64).copy()
        self.fresh, self.fresh_size = np.zeros(self.MERGE_AT, np.uint64), 0
        self._sort()

    def __len__(self) -> int:
        return len(self.hashes) + self.fresh_size

    def _sort(self) -> None:
        """Per block: the sorted tier's block values in sorted order, and their positions."""
        self.sorted = []
        for shift, mask in self.blocks:
            keys = ((self.hashes >> np.uint64(shift)) & np.uint64(mask)).astype(self.key_type)
            order = np.argsort(keys, kind="stable").astype(np.uint32)
            self.sorted.append((keys[order], order))

    def find(self, h: int) -> int | None:
        """Position of the closest stored hash within ``max_distance`` bits of ``h``, or None."""
        u = np.uint64(h)
        best, where = self.max_distance + 1, None
        candidates = np.concatenate([np.empty(0, np.uint32)] + [
            order[np.searchsorted(keys, k, "left"):np.searchsorted(keys, k, "right")]
            for (shift, mask), (keys, order) in zip(self.blocks, self.sorted) for k in [self.key_type((h >> shift) & mask)]])
        fresh = np.arange(len(self.hashes), len(self), dtype=np.int64)
        for positions, stored in ((candidates, self.hashes[candidates]), (fresh, self.fresh[:self.fresh_size])):
            if len(stored):
                dist = popcount(stored ^ u)
                i = int(dist.argmin())
                if dist[i] < best:
                    best, where = int(dist[i]), int(positions[i])
        return where

    def add(self, h: int) -> int | None:
        """The position of the stored duplicate of ``h``; or None after storing ``h``."""
        where = self.find(h)
        if where is not None:
            return where
        if self.fresh_size == len(self.fresh):
            self.fresh = np.concatenate([self.fresh, np.zeros_like(self.fresh)])
        self.fresh[self.fresh_size] = np.uint64(h)
        self.fresh_size += 1
        if self.fresh_size >= max(self.MERGE_AT, len(self.hashes) // 16):
            self.hashes = np.concatenate([self.hashes, self.fresh[:self.fresh_size]])
            self.fresh, self.fresh_size = np.zeros(self.MERGE_AT, np.uint64), 0
            self._sort()
        return None
