"""Figures of a ``toolthink eval`` run: pass@k per bug kind and mode, turns per episode.

``pass_at_k.png``: one panel per k, bars per mode side by side for "all" and
each bug kind (percent). ``turns.png``: how many commands Chain-of-Edits
episodes took, split by repaired or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from toolthink.evaluation.evaluator import ModeResult

__all__ = ["plot_pass_at_k", "plot_turns"]


def plot_pass_at_k(results: Sequence[ModeResult], ks: Sequence[int], path: Path,
                   *, title: str = "") -> Path:
    """Save the pass@k bar chart to ``path`` (PNG) and return it."""
    import matplotlib as mpl  # noqa: PLC0415 - only figures need it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    groups = ["all", *sorted({g for r in results for g in r.summary} - {"all"})]
    fig, axes = plt.subplots(1, len(ks), figsize=(max(4.0, 1.2 * len(groups)) * len(ks), 3.8),
                             squeeze=False)
    width = 0.8 / max(len(results), 1)
    for ax, k in zip(axes[0], ks, strict=True):
        for i, result in enumerate(results):
            values = [100 * result.summary.get(g, {}).get(f"pass@{k}", 0.0) for g in groups]
            xs = [x + (i - (len(results) - 1) / 2) * width for x in range(len(groups))]
            ax.bar(xs, values, width, label=result.mode)
        ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"pass@{k} (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_turns(results: Sequence[ModeResult], path: Path) -> Path | None:
    """Save the histogram of Chain-of-Edits turns per episode; None without such episodes."""
    records = [r for result in results if result.mode == "chain-of-edits"
               for r in result.records]
    if not records:
        return None
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    most = max(len(r["turns"]) for r in records)
    bins = [b - 0.5 for b in range(most + 2)]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([[len(r["turns"]) for r in records if r["passed"]],
             [len(r["turns"]) for r in records if not r["passed"]]],
            bins=bins, stacked=True, label=["repaired", "not repaired"])
    ax.set_xlabel("commands per episode")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
