"""SimSiam training-step throughput (images/s): vehiclekit's implementation against lightly's, in one run.

Both models use the same backbone (``vehiclekit.models.factory.build_backbone(arch)``), the same head
sizes (projector 2 × features, predictor bottleneck ÷ 4), the same batch, resolution, thread count and
optimiser (SGD, momentum 0.9); lightly's side is its documented SimSiam example (SimSiamProjectionHead,
SimSiamPredictionHead, NegativeCosineSimilarity, ``z.detach()``). A step is forward of both views, loss,
backward and the optimiser step on pre-made random views: data loading is not timed (see
``ssl_loader_throughput.py``). Measurements alternate between the two implementations round by round,
so a background job slows both alike; the median round is reported, and the ratio vehiclekit / lightly.

lightly lives only in its own environment, next to the project's pinned torch:

    bash benchmarks/setup_lightly_venv.sh            # once: creates benchmarks/.venv-lightly
    benchmarks/.venv-lightly/bin/python benchmarks/ssl_step_throughput.py --threads 1 --json runs/ssl_step.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # vehiclekit from this checkout

from vehiclekit.models.factory import BACKBONES, build_backbone  # noqa: E402
from vehiclekit.training.ssl.simsiam import SimSiam  # noqa: E402


class LightlySimSiam(nn.Module):
    """lightly's SimSiam example model on vehiclekit's backbone; ``forward`` returns the loss."""

    def __init__(self, arch: str):
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        super().__init__()
        self.backbone = build_backbone(arch)
        dim = 2 * self.backbone.num_features
        self.projection_head = SimSiamProjectionHead(self.backbone.num_features, dim, dim)
        self.prediction_head = SimSiamPredictionHead(dim, dim // 4, dim)
        self.criterion = NegativeCosineSimilarity()

    def _branch(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projection_head(self.backbone(x).flatten(start_dim=1))
        return z.detach(), self.prediction_head(z)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        z0, p0 = self._branch(x0)
        z1, p1 = self._branch(x1)
        return 0.5 * (self.criterion(z0, p1) + self.criterion(z1, p0))


def time_steps(model: nn.Module, optimizer: torch.optim.Optimizer, views: tuple[torch.Tensor, torch.Tensor], steps: int) -> float:
    """Seconds for ``steps`` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(*views)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=sorted(BACKBONES), default="resnet18-half")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads, both implementations")
    p.add_argument("--steps", type=int, default=5, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per implementation")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()

    import lightly

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    views = tuple(torch.randn(args.batch_size, 3, args.img_size, args.img_size, generator=g) for _ in range(2))
    models = {"vehiclekit": SimSiam(args.arch), "lightly": LightlySimSiam(args.arch)}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4) for k, m in models.items()}
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    assert params["vehiclekit"] == params["lightly"], f"not the same network: {params}"
    for k, m in models.items():  # warm-up (allocator, oneDNN primitive caches)
        m.train()
        time_steps(m, optimizers[k], views, 2)
    rates: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.rounds):
        for k, m in models.items():
            rates[k].append(args.batch_size * args.steps / time_steps(m, optimizers[k], views, args.steps))
    result = {
        "arch": args.arch, "batch_size": args.batch_size, "img_size": args.img_size, "threads": args.threads,
        "steps_per_round": args.steps, "rounds": args.rounds, "parameters": params["vehiclekit"],
        "torch": torch.__version__, "lightly": lightly.__version__,
        "images_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()},
        "images_per_s_rounds": {k: [round(r, 1) for r in v] for k, v in rates.items()},
    }
    result["ratio_vehiclekit_over_lightly"] = round(result["images_per_s"]["vehiclekit"] / result["images_per_s"]["lightly"], 3)
    print(f"SimSiam step, {args.arch}, batch {args.batch_size}, {args.img_size} px, {args.threads} thread(s), "
          f"torch {torch.__version__}, lightly {lightly.__version__}")
    for k, v in result["images_per_s"].items():
        print(f"  {k:10s} {v:8.1f} img/s   rounds {result['images_per_s_rounds'][k]}")
    print(f"  ratio vehiclekit / lightly: {result['ratio_vehiclekit_over_lightly']:.3f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
