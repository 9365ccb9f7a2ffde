"""``toolthink demo``: the main job, end to end, on the embedded defaults.

Stages, each the same command a user would run by hand (printed before it
runs), all under one output folder (default ``runs/demo``):

1. ``toolthink data demos``: verified demonstrations from the embedded corpus'
   train split (no data folder needed);
2. ``toolthink-train sft``: LoRA fine-tuning of the embedded SmolLM2-135M-Instruct;
3. ``toolthink-train rl``: a few steps of multi-turn GRPO from the SFT adapter;
4. ``toolthink eval``: Chain-of-Edits and direct answering on the embedded
   corpus' held-out problems and, with ``--data-dir``, on QuixBugs and
   HumanEvalFix; each prints its comparison table.

``--quick`` runs the fewest steps of every stage. Wall times on 2 CPU cores are
not yet measured end to end (stage figures: benchmarks/README.md); numbers
from so short a run measure the plumbing, not the method: see
docs/training.md and docs/rl.md for real recipes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "make_parser", "stages"]

log = logging.getLogger("toolthink.pipeline")

_CPU = ["--bf16", "false", "--gradient_checkpointing", "false", "--use_cpu", "true",
        "--report_to", "none", "--logging_steps", "1"]


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink demo`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink demo", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fewest steps of every stage")
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--data-dir", default=os.environ.get("TOOLTHINK_DATA_DIR"),
                        help="benchmark folder (layout of ../shared/data) to also evaluate on "
                             "QuixBugs and HumanEvalFix; default: $TOOLTHINK_DATA_DIR")
    return parser


def stages(out: Path, *, quick: bool, data_dir: str | None) -> list[tuple[str, str, list[str]]]:
    """The stages as ``(title, module, argv)``; ``module.main(argv)`` runs one."""
    per_problem, sft_steps, rl_steps, samples = (1, 4, 1, 1) if quick else (3, 24, 8, 2)
    eval_limit = "4" if quick else "14"
    result = [
        ("demonstrations", "toolthink.data.cli",
         ["demos", "--source", "embedded", "--split", "train", "--per-problem", str(per_problem),
          "--timeout", "2", "--out", str(out / "demos")]),
        ("supervised fine-tuning", "toolthink.training.sft_cli",
         ["--demos", str(out / "demos"), "--output_dir", str(out / "sft"),
          "--max_steps", str(sft_steps), "--per_device_train_batch_size", "2",
          "--max_length", "1024", "--save_strategy", "no", *_CPU]),
        ("reinforcement learning", "toolthink.training.rl_cli",
         ["--adapter", str(out / "sft"), "--output_dir", str(out / "rl"),
          "--max_steps", str(rl_steps), "--save_strategy", "no", "--max_turns", "3",
          "--max_new_tokens_per_turn", "48", "--num_generations", "4",
          "--per_device_train_batch_size", "4", *_CPU]),
        ("evaluation: embedded held-out problems", "toolthink.evaluation.cli",
         ["--model", "embedded", "--adapter", str(out / "rl"), "--dataset", "embedded",
          "--samples", str(samples), "--k", "1", "--mode", "both", "--limit", eval_limit,
          "--out", str(out / "eval-embedded")]),
    ]
    if data_dir:
        for dataset in ("quixbugs", "humanevalfix"):
            result.append((f"evaluation: {dataset}", "toolthink.evaluation.cli",
                           ["--model", "embedded", "--adapter", str(out / "rl"),
                            "--dataset", dataset, "--data-dir", data_dir,
                            "--samples", "1", "--k", "1", "--mode", "both",
                            "--limit", "3" if quick else "10",
                            "--out", str(out / f"eval-{dataset}")]))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage in order; stops at the first that fails (its exit status)."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = Path(args.out)
    plan = stages(out, quick=args.quick, data_dir=args.data_dir)
    started = time.perf_counter()
    for number, (title, module, stage_argv) in enumerate(plan, 1):
        command = {"toolthink.data.cli": "toolthink data",
                   "toolthink.training.sft_cli": "toolthink-train sft",
                   "toolthink.training.rl_cli": "toolthink-train rl",
                   "toolthink.evaluation.cli": "toolthink eval"}[module]
        log.info("\n[%d/%d] %s\n$ %s %s", number, len(plan), title, command,
                 shlex.join(stage_argv))
        status = int(importlib.import_module(module).main(stage_argv) or 0)
        if status:
            log.error("stage %r failed with status %d", title, status)
            return status
    log.info("\ndone in %.0f s; everything is under %s", time.perf_counter() - started, out)
    return 0
