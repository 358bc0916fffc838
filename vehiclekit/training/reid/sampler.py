"""P×K identity sampling (Hermans et al. 2017; the "bag of tricks" baseline, Luo et al. 2019, uses K = 4):
every batch holds P identities with K images each, so the batch-hard triplet loss always has
positives and negatives.

Pure Python and deterministic given ``seed``: an epoch visits every identity once (in a shuffled
order, the last incomplete group of P dropped). An identity with at least K images contributes K
distinct ones; one with fewer contributes all of them plus draws with replacement up to K (the
two-camera vehicle set has 2 images per vehicle, so K = 4 repeats each image, differently augmented).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence


class PKSampler:
    """A batch sampler for ``DataLoader(batch_sampler=...)``: yields lists of P*K dataset indices."""

    def __init__(self, identities: Sequence[Hashable], p: int, k: int, seed: int = 0):
        if p < 2 or k < 1:
            raise ValueError(f"P x K sampling needs P >= 2 identities and K >= 1 images, got P={p}, K={k}")
        self.by_id: dict[Hashable, list[int]] = defaultdict(list)
        for index, identity in enumerate(identities):
            self.by_id[identity].append(index)
        if len(self.by_id) < p:
            raise ValueError(f"P={p} identities per batch but the data holds only {len(self.by_id)}")
        self.ids = sorted(self.by_id, key=str)
        self.p, self.k, self.seed = p, k, seed

    def __len__(self) -> int:
        return len(self.ids) // self.p

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed)
        order = self.ids[:]
        rng.shuffle(order)
        for b in range(len(self)):
            batch: list[int] = []
            for identity in order[b * self.p : (b + 1) * self.p]:
                batch += self.draw(self.by_id[identity], rng)
            yield batch

    def draw(self, members: list[int], rng: random.Random) -> list[int]:
        """K indices of one identity: distinct when it has K or more, else all of them + repeats."""
        if len(members) >= self.k:
            return rng.sample(members, self.k)
        return members + rng.choices(members, k=self.k - len(members))
