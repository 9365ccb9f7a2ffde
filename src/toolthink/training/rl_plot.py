"""The RL curves PNG: reward, pass rate, turns, malformed rate and the time split per step."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["plot_curves"]

_PANELS = (
    ("reward", "mean episode reward"),
    ("pass_rate", "pass rate"),
    ("turns", "turns per episode"),
    ("malformed_rate", "malformed-command rate"),
    ("sampled_tokens", "model tokens per episode"),
)
_TIMES = ("time/generation", "time/sandbox", "time/training")


def plot_curves(records: Sequence[dict[str, float]], path: Path) -> None:
    """Draw one panel per figure of ``records`` (from ``metrics.jsonl``) into ``path``.

    Args:
        records: One dict per step with a ``step`` key.
        path: The PNG to write (its folder must exist).
    """
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title) in zip(axes.flat, _PANELS, strict=False):
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
    ax = axes.flat[-1]
    for key in _TIMES:
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, label=key.split("/")[1])
    ax.set_title("seconds per step")
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
