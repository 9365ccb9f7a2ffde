"""Compare the loss curves of two SFT runs (float32 and bf16 autocast) on the same data and seed.

Usage::

    python benchmarks/compare_loss_curves.py RUN_FP32 RUN_BF16 \
        [--results benchmarks/results] [--plot docs/images/sft-loss-bf16-vs-fp32.png]
    python benchmarks/compare_loss_curves.py --from-results FP32.jsonl BF16.jsonl

Reads each run's ``metrics.json`` (``toolthink-train sft``), writes the per-step
losses as ``sft-loss-<name>.jsonl`` under ``--results``, plots both curves, and
prints per step the two losses and their difference, then the largest absolute
and relative differences and the seconds per step of each run.

``--from-results`` prints only the markdown table of two files this script
wrote (the docs' table, benchmarks/doc_tables.py): the trainer's seconds per
step and wall time, and the loss at steps 1, 10 and 20.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from toolthink.markdown import markdown_table


def losses(run: Path) -> tuple[list[dict[str, float]], dict[str, float]]:
    metrics = json.loads((run / "metrics.json").read_text())
    steps = [{"step": e["step"], "loss": e["loss"],
              "mean_token_accuracy": e.get("mean_token_accuracy")}
             for e in metrics["log_history"] if "loss" in e]
    return steps, {"seconds_per_step": metrics["seconds_per_step"],
                   "wall_seconds": metrics["wall_seconds"]}


def results_table(fp32: Path, bf16: Path, steps: Sequence[int] = (1, 10, 20)) -> str:
    """The table of two ``sft-loss-*.jsonl`` files: trainer timing and the loss at ``steps``."""
    rows = []
    for name, path in (("float32", fp32), ("bf16 autocast", bf16)):
        records = {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}
        wall = round(records[1]["wall_seconds"])
        rows.append([name, f"{records[1]['seconds_per_step']:.1f}",
                     f"{wall // 60} min {wall % 60:02d} s",
                     " / ".join(f"{records[s]['loss']:.3f}" for s in steps)])
    return markdown_table(["precision", "s/step (trainer)", "wall (trainer)",
                           "loss step " + " / ".join(map(str, steps))], rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fp32", type=Path, nargs="?")
    parser.add_argument("bf16", type=Path, nargs="?")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--plot", type=Path, default=Path("docs/images/sft-loss-bf16-vs-fp32.png"))
    parser.add_argument("--from-results", type=Path, nargs=2, metavar=("FP32", "BF16"),
                        help="print only the table of two files this script wrote")
    args = parser.parse_args(argv)
    if args.from_results:
        print(results_table(*args.from_results), end="")
        return
    if args.fp32 is None or args.bf16 is None:
        parser.error("give the two runs' folders, or --from-results")
    runs = {"fp32": losses(args.fp32), "bf16": losses(args.bf16)}
    for name, (steps, timing) in runs.items():
        path = args.results / f"sft-loss-{name}-{len(steps)}-steps.jsonl"
        path.write_text("".join(json.dumps({**s, **timing}) + "\n" for s in steps))
        print(f"wrote {path}: {timing['seconds_per_step']:.1f} s/step")
    fp32, bf16 = runs["fp32"][0], runs["bf16"][0]
    print("| step | float32 loss | bf16 loss | difference |")
    print("|---:|---:|---:|---:|")
    worst = worst_rel = 0.0
    for a, b in zip(fp32, bf16, strict=True):
        diff = b["loss"] - a["loss"]
        worst, worst_rel = max(worst, abs(diff)), max(worst_rel, abs(diff) / a["loss"])
        print(f"| {a['step']} | {a['loss']:.4f} | {b['loss']:.4f} | {diff:+.4f} |")
    print(f"largest difference: {worst:.4f} ({100 * worst_rel:.1f} % of the float32 loss)")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, steps in (("float32", fp32), ("bf16 autocast", bf16)):
        ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], marker="o",
                markersize=3, label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (command tokens)")
    ax.set_title("SFT on the embedded model, same data and seed")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
