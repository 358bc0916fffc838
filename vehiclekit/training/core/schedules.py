"""Learning-rate schedules shared by the training commands."""

from __future__ import annotations

import math
from typing import Callable


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor for ``LambdaLR``: linear warm-up over ``warmup_steps``, then cosine decay to 0 at
    ``total_steps`` (Loshchilov & Hutter, "SGDR", ICLR 2017; warm-up as in Goyal et al. 2017)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return factor
