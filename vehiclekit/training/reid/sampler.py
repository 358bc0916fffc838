"""P×K identity sampling (Hermans et al. 2017; the "bag of tricks" baseline, Luo et al. 2019, uses K = 4):
every batch holds P identities with K images each, so the batch-hard triplet loss always has
positives and negatives.

Pure Python and deterministic given ``seed``: an epoch visits every identity once (in a shuffled
order, the last incomplete group of P dropped). An identity with at least K images contributes K
distinct ones; one with fewer contributes all of them plus draws with replacement up to K (the
two-camera vehicle set has 2 images per vehicle, so K = 4 repeats each image, differently augmented).

Camera-aware: given each image's camera, an identity's K images are drawn round-robin over its
cameras (a shuffled camera order, a shuffled image order within each), so a batch's positives
span as many cameras as the identity was seen by and the triplet loss's hardest positive is
usually a cross-camera one, the pair retrieval is asked to match.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence


class PKSampler:
    """A batch sampler for ``DataLoader(batch_sampler=...)``: yields lists of P*K dataset indices."""

    def __init__(self, identities: Sequence[Hashable], p: int, k: int, seed: int = 0,
                 cameras: Sequence[Hashable] | None = None):
        if p < 2 or k < 1:
            raise ValueError(f"P x K sampling needs P >= 2 identities and K >= 1 images, got P={p}, K={k}")
        self.by_id: dict[Hashable, list[int]] = defaultdict(list)
        for index, identity in enumerate(identities):
            self.by_id[identity].append(index)
        if len(self.by_id) < p:
            raise ValueError(f"P={p} identities per batch but the data holds only {len(self.by_id)}")
        self.ids = sorted(self.by_id, key=str)
        self.p, self.k, self.seed = p, k, seed
        if cameras is not None and len(cameras) != len(identities):
            raise ValueError(f"{len(cameras)} cameras for {len(identities)} images")
        self.cameras = cameras

    def __len__(self) -> int:
        return len(self.ids) // self.p

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed)  # noqa: S311 - seeded batch sampling, not security
        order = self.ids[:]
        rng.shuffle(order)
        for b in range(len(self)):
            batch: list[int] = []
            for identity in order[b * self.p : (b + 1) * self.p]:
                batch += self.draw(self.by_id[identity], rng)
            yield batch

    def draw(self, members: list[int], rng: random.Random) -> list[int]:
        """K indices of one identity: distinct when it has K or more, else all of them + repeats;
        with cameras, taken round-robin over the identity's cameras."""
        if self.cameras is None:
            if len(members) >= self.k:
                return rng.sample(members, self.k)
            return members + rng.choices(members, k=self.k - len(members))
        by_camera: dict[Hashable, list[int]] = defaultdict(list)
        for index in members:
            by_camera[self.cameras[index]].append(index)
        groups = [rng.sample(group, len(group)) for group in by_camera.values()]
        rng.shuffle(groups)
        interleaved = [group[i] for i in range(max(map(len, groups))) for group in groups if i < len(group)]
        return interleaved[: self.k] + rng.choices(members, k=max(0, self.k - len(interleaved)))
