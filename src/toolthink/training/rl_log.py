"""What an RL run records per step: episode figures, the time split, and the curves PNG.

`step_metrics` reduces one step's episodes to the figures of docs/rl.md;
`StepRecorder` (a ``transformers`` callback) writes them with the step's time
split to ``metrics.jsonl``; `plot_curves` draws ``curves.png`` from those lines
(or, for a run of fewer than 3 steps, writes them as the table ``curves.md``).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from toolthink.jsonl import write_jsonl
from toolthink.markdown import MIN_CURVE_POINTS, markdown_table
from toolthink.rollout.episodes import Episode

if TYPE_CHECKING:
    from toolthink.training.rl_rollout import EpisodeRollout

__all__ = ["StepRecorder", "plot_curves", "step_metrics"]


def step_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """The per-step figures of docs/rl.md, from one step's episodes.

    Returns:
        ``reward`` (mean total), ``pass_rate``, ``turns`` (mean commands per
        episode), ``malformed_rate`` (malformed / all commands), ``tokens``
        (mean completion tokens, environment's included), ``sampled_tokens``
        (mean model tokens), ``truncated_rate``.
    """
    commands = sum(e.turns for e in episodes)
    return {
        "reward": statistics.fmean(e.total_reward for e in episodes),
        "pass_rate": statistics.fmean(float(e.passed) for e in episodes),
        "turns": statistics.fmean(e.turns for e in episodes),
        "malformed_rate": sum(e.malformed for e in episodes) / max(commands, 1),
        "tokens": statistics.fmean(len(e.completion_ids) for e in episodes),
        "sampled_tokens": statistics.fmean(e.sampled_tokens for e in episodes),
        "truncated_rate": statistics.fmean(float(e.truncated) for e in episodes),
    }


class StepRecorder(TrainerCallback):
    """Writes one JSON line per optimizer step: episode figures and the time split.

    ``time/training`` is the step's wall time minus generation and sandbox
    time (forward and backward passes, the optimizer, TRL's log-prob passes).
    ``memory/peak_rss_gib`` is the process's peak resident memory so far
    (``getrusage``, GiB): a rise from step to step, rather than a plateau after
    the first, points at a leak.

    Args:
        rollout: The trainer's `EpisodeRollout`.
        path: The JSONL file (``metrics.jsonl`` in the output folder).
    """

    def __init__(self, rollout: EpisodeRollout, path: Path) -> None:
        self.rollout = rollout
        self.path = path
        self.records: list[dict[str, float]] = []
        self._started = 0.0
        self._calls = 0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the step's clock."""
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Record the step (its rollout's figures when it generated)."""
        elapsed = time.perf_counter() - self._started
        record: dict[str, float] = {"step": float(state.global_step), "time/step": elapsed}
        if self.rollout.calls != self._calls:  # this step generated
            self._calls = self.rollout.calls
            timing = self.rollout.timing
            record.update(step_metrics(self.rollout.episodes))
            record["time/generation"] = timing.generation
            record["time/sandbox"] = timing.sandbox
            record["time/training"] = max(elapsed - timing.generation - timing.sandbox, 0.0)
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
        record["memory/peak_rss_gib"] = rss_kib / 2**20
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        if losses:
            record["loss"] = float(losses[-1])
        self.records.append(record)
        write_jsonl(self.path, [record], append=True)


_PANELS = (
    ("reward", "mean episode reward"),
    ("pass_rate", "pass rate"),
    ("turns", "turns per episode"),
    ("malformed_rate", "malformed-command rate"),
    ("sampled_tokens", "model tokens per episode"),
)
_WINDOW = 10
_TIMES = ("time/generation", "time/sandbox", "time/training")


def _table(records: Sequence[dict[str, float]], path: Path) -> Path:
    """Write ``records`` as a markdown table (one row per step) to ``path``; return it."""
    keys = [key for key, _ in _PANELS] + list(_TIMES) + ["loss"]
    header = ["step", *[k for k in keys if any(k in r for r in records)]]
    rows = [[int(r["step"]), *[r.get(k, "-") for k in header[1:]]] for r in records]
    path.write_text(f"# RL per step ({len(records)} step(s): too few for a curve)\n\n"
                    + markdown_table(header, rows), encoding="utf-8")
    return path


def plot_curves(records: Sequence[dict[str, float]], path: Path) -> Path:
    """Draw one panel per figure of ``records`` (from ``metrics.jsonl``) into ``path``.

    With fewer than `toolthink.markdown.MIN_CURVE_POINTS` steps the figures go
    into a markdown table instead, ``path`` with the suffix ``.md``: a curve of
    one or two points looks broken.

    Args:
        records: One dict per step with a ``step`` key.
        path: The PNG to write (its folder must exist).

    Returns:
        The file written: ``path``, or its ``.md`` sibling.
    """
    if len(records) < MIN_CURVE_POINTS:
        return _table(records, path.with_suffix(".md"))
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
    return path
