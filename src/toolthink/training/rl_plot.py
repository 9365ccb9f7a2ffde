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
_WINDOW = 10
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
            ax.plot(xs, ys, marker="o", markersize=3, alpha=0.5 if len(ys) >= _WINDOW else 1.0)
            if len(ys) >= _WINDOW:  # steps are noisy (one group each): show a moving mean
                means = [sum(ys[i - _WINDOW + 1:i + 1]) / _WINDOW
                         for i in range(_WINDOW - 1, len(ys))]
                ax.plot(xs[_WINDOW - 1:], means, color="black", label=f"mean of {_WINDOW}")
                ax.legend()
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
