"""PNG plots of a traffic report (matplotlib, Agg backend: no display needed).

matplotlib is an optional dependency (``pip install vehiclekit[apps]``); without it the report's
CSV/JSON are still written and plotting raises an error saying what to install.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vehiclekit.apps.stats import TrafficReport, bucket_range
from vehiclekit.errors import VehiclekitError


def pyplot():
    """matplotlib's pyplot on the Agg backend, or an error saying what to install."""
    try:
        import matplotlib
    except ImportError:
        raise VehiclekitError("plots need matplotlib: pip install 'vehiclekit[apps]' (or pass --no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_counts(report: TrafficReport, path: Path, counts=None, what: str = "type") -> Path:
    """Stacked bars of vehicles per category per bucket, entries above, exits below: per type
    (``report.counts``), or of other ``counts`` keyed the same way (e.g. per segment)."""
    plt = pyplot()
    counts = report.counts if counts is None else counts
    categories = sorted({c for (_, _, _, c) in counts})
    starts = sorted({s for (s, _, _, _) in counts})
    buckets = bucket_range(starts[0], starts[-1], report.bucket, report.tz)
    labels = [b.astimezone(report.tz).strftime("%d %H:%M" if report.bucket != "day" else "%Y-%m-%d") for b in buckets]
    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, dpi=80)
    for ax, direction in zip(axes, ("entry", "exit")):
        bottom = np.zeros(len(buckets))
        for category in categories:
            heights = np.array([sum(n for (s, _, d, c), n in counts.items()
                                    if s == b and d == direction and c == category) for b in buckets], float)
            ax.bar(range(len(buckets)), heights, bottom=bottom, label=category, width=0.85)
            bottom += heights
        ax.set_ylabel(f"{direction} count")
    axes[0].legend(ncol=len(categories), fontsize=8, loc="upper right")
    axes[0].set_title(f"vehicles per {report.bucket} by {what} ({report.tz})")
    step = max(1, len(buckets) // 12)
    axes[1].set_xticks(range(0, len(buckets), step), labels[::step], rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_dwell(report: TrafficReport, path: Path) -> Path:
    """Histogram of the matched dwell times, in hours."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=80)
    hours = [d["dwell_minutes"] / 60 for d in report.dwell]
    ax.hist(hours, bins=20 if hours else 1, color="tab:blue")
    ax.set_xlabel("dwell time (hours)")
    ax.set_ylabel("matched pairs")
    ax.set_title(f"dwell times: {len(hours)} matched, {report.unmatched_exits} unmatched, "
                 f"{report.ambiguous_exits} ambiguous exits", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
