"""Figures of a ``toolthink eval`` run: pass@k per bug kind and mode, turns per episode.

``pass_at_k.png``: one panel per k, bars per mode side by side for "all" and
each bug kind (percent), each bar labelled with its value, so that 0 reads as
0 and not as a missing bar. ``turns.png``: how many commands Chain-of-Edits
episodes took, split by repaired or not, on integer axes, each bar labelled with
its count, and the turn limit (``--max-turns``) marked: an episode that reaches
it without ``EXIT`` is cut there and counts as not repaired. `pass_at_k_figure`
and `turns_figure` return the matplotlib figures (for tests and notebooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolthink.evaluation.evaluator import ModeResult

__all__ = ["bar_label", "pass_at_k_figure", "plot_pass_at_k", "plot_turns", "turns_figure"]


def bar_label(value: float) -> str:
    """The text above a bar: ``"0"``, ``"50"``, ``"33.3"`` (percent, no trailing ``.0``)."""
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _pyplot() -> Any:
    import matplotlib as mpl  # noqa: PLC0415 - only figures need it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_pass_at_k(results: Sequence[ModeResult], ks: Sequence[int], path: Path,
                   *, title: str = "") -> Path:
    """Save the pass@k bar chart to ``path`` (PNG) and return it."""
    return _save(pass_at_k_figure(results, ks, title=title), path)


def pass_at_k_figure(results: Sequence[ModeResult], ks: Sequence[int], *, title: str = "") -> Any:
    """The pass@k bar chart (a ``matplotlib.figure.Figure``), one panel per k."""
    plt = _pyplot()
    groups = ["all", *sorted({g for r in results for g in r.summary} - {"all"})]
    fig, axes = plt.subplots(1, len(ks), figsize=(max(4.0, 1.2 * len(groups)) * len(ks), 3.8),
                             squeeze=False)
    width = 0.8 / max(len(results), 1)
    for ax, k in zip(axes[0], ks, strict=True):
        for i, result in enumerate(results):
            raw = [result.summary.get(g, {}).get(f"pass@{k}") for g in groups]
            values = [0.0 if v is None else 100 * v for v in raw]
            xs = [x + (i - (len(results) - 1) / 2) * width for x in range(len(groups))]
            bars = ax.bar(xs, values, width, label=result.mode)
            ax.bar_label(bars, labels=["n/a" if v is None else bar_label(100 * v) for v in raw],
                         fontsize=8, padding=2)  # n/a: fewer samples than k
        ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"pass@{k} (%)")
        ax.set_ylim(0, 130)  # room for the label of a 100 % bar and the legend above it
        ax.set_yticks(range(0, 101, 20))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", ncol=max(len(results), 1), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_turns(results: Sequence[ModeResult], path: Path, *,
               max_turns: int | None = None) -> Path | None:
    """Save the histogram of Chain-of-Edits turns per episode; None without such episodes.

    Args:
        results: The evaluation's results.
        path: The PNG to write.
        max_turns: The turn limit, drawn as a dashed line (None: not drawn).
    """
    fig = turns_figure(results, max_turns=max_turns)
    return None if fig is None else _save(fig, path)


def turns_figure(results: Sequence[ModeResult], *, max_turns: int | None = None) -> Any:
    """The turns histogram (a ``matplotlib.figure.Figure``); None without Chain-of-Edits."""
    records = [r for result in results if result.mode == "chain-of-edits"
               for r in result.records]
    if not records:
        return None
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = _pyplot()
    most = max(len(r["turns"]) for r in records)
    right = max(most, max_turns or 0)
    xs = list(range(right + 1))
    repaired = [sum(len(r["turns"]) == x and r["passed"] for r in records) for x in xs]
    failed = [sum(len(r["turns"]) == x and not r["passed"] for r in records) for x in xs]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(xs)), 3.2))
    for counts, below, label in ((repaired, [0] * len(xs), "repaired"),
                                 (failed, repaired, "not repaired")):
        bars = ax.bar(xs, counts, 0.8, bottom=below, label=label)
        ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], label_type="center",
                     fontsize=8)
    if max_turns is not None:
        ax.axvline(max_turns + 0.45, color="black", linestyle="--", linewidth=1,
                   label=f"turn limit ({max_turns})")
    ax.set_xticks(xs)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.6, right + 0.9)
    ax.set_ylim(0, max(r + f for r, f in zip(repaired, failed, strict=True)) * 1.15 + 0.5)
    ax.set_xlabel("commands per episode")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
