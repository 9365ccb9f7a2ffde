"""``toolthink study``: the paper's comparison, trained and measured, on one seed.

::

    toolthink study --data-dir ../shared/data --out runs/study          # the real run
    toolthink study --budget quick --out runs/study-quick                # minutes, plumbing

Four models, trained on the same problems (MBPP's train split with
``--data-dir``, the embedded corpus' train split without it) and the same bugs:

- ``base``: the model as shipped, evaluated in both modes;
- ``coe-sft``: SFT on Chain-of-Edits demonstrations;
- ``coe-sft-rl``: ``coe-sft``, then multi-turn GRPO on synthetic bugs of the
  same train problems;
- ``direct-sft``: SFT, with the same optimizer steps and batch, on the direct
  twins of the same demonstrations (`toolthink.data.direct`).

Each is evaluated on the fixed held-out set (``toolthink data heldout``: MBPP's
test split, or the embedded test split) and, with ``--data-dir``, on QuixBugs
and HumanEvalFix, greedy (pass@1), with the paper's 10 turns under the full
budget. ``report.md`` (`toolthink.evaluation.study_report`) holds the table with
95 % intervals and the figures.

Every stage is a toolthink command in its own folder under ``--out``
(`toolthink.stages`): rerun the same command after an interruption and the
finished stages are reused, an interrupted training resumes from its last
checkpoint. ``--stop-after N`` runs the first N stages only.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from toolthink.commands import positive_int
from toolthink.errors import ToolthinkError
from toolthink.jsonl import read_jsonl
from toolthink.stages import (
    Stage,
    data_dir_problem,
    job_environment,
    rl_group_flags,
    run_stages,
    trainer_flags,
)

__all__ = ["BUDGETS", "HELDOUT", "MODELS", "StudyBudget", "eval_runs", "heldout_check", "main",
           "make_parser", "stages"]

log = logging.getLogger("toolthink.study")

_PROG = "toolthink study"


@dataclass(frozen=True)
class StudyBudget:
    """How much of each stage a study does.

    Attributes:
        per_problem: Demonstrations attempted per train problem.
        max_edits: Most corrupting edits per demonstration (paper: 1-5).
        problems: Train problems used (None: all).
        sft_steps: Optimizer steps of both SFT runs (the same budget).
        sft_batch: Demonstrations per forward pass of both SFT runs.
        sft_accum: Forward passes per optimizer step (gradient accumulation): a
            step sees ``sft_batch * sft_accum`` demonstrations.
        save_steps: Steps between checkpoints (what an interrupted run resumes from).
        max_length: Longest demonstration trained on, tokens.
        rl_steps: GRPO steps after Chain-of-Edits SFT.
        rl_turns: Commands per RL episode.
        eval_limit: Held-out problems evaluated (None: all).
        bench_limit: QuixBugs and HumanEvalFix tasks evaluated (None: all).
        max_turns: Commands per evaluation episode (paper: 10).
        max_new_tokens: Tokens per Chain-of-Edits command.
        direct_tokens: Tokens of a direct answer.
        eval_batch: Attempts generated together in an evaluation (a batch of 32
            episodes cost 0.65x per episode of batches of 8: benchmarks/README.md,
            "Rollout").
        detours: Share of Chain-of-Edits demonstrations with a wrong command and
            its recovery inserted (`toolthink data demos --detours`); the direct
            twins are built from the same bugs.
    """

    per_problem: int
    max_edits: int
    problems: int | None
    sft_steps: int
    sft_batch: int
    save_steps: int
    max_length: int
    rl_steps: int
    rl_turns: int
    eval_limit: int | None
    bench_limit: int | None
    max_turns: int
    max_new_tokens: int
    direct_tokens: int
    eval_batch: int = 8
    sft_accum: int = 1
    detours: float = 0.0


BUDGETS = {
    # Plumbing only, minutes on 2 cores (the resume test runs it on a tiny random model).
    "quick": StudyBudget(per_problem=1, max_edits=2, problems=4, sft_steps=2, sft_batch=2,
                         save_steps=1, max_length=1024, rl_steps=1, rl_turns=2, eval_limit=2,
                         bench_limit=2, max_turns=2, max_new_tokens=16, direct_tokens=32),
    # The run: the paper's turns and edit range. 2048 tokens keeps 1,003 of the
    # 1,412 MBPP-train demonstrations (1,024 kept 261, mostly single edits: the
    # held-out bugs have 1-5); 400 steps of 2 see 800 of them, about 60 min at
    # 9 s/step on 2 quiet cores with bf16 (measured 2026-12-04, Xeon with AMX).
    # One demonstration per pass, two per step: two of 2,048 tokens in one pass
    # peaked at 12.7 GB RSS.
    "full": StudyBudget(per_problem=4, max_edits=5, problems=None, sft_steps=400, sft_batch=1,
                        sft_accum=2,
                        save_steps=25, max_length=2048, rl_steps=30, rl_turns=3,
                        eval_limit=None, bench_limit=None, max_turns=10, max_new_tokens=96,
                        direct_tokens=512, eval_batch=32),
}

HELDOUT = "heldout"
"""The dataset name of the held-out synthetic set (`toolthink.evaluation.datasets`)."""

MODELS = (("base", None, "both"), ("coe-sft", "sft-coe", "coe"),
          ("coe-sft-rl", "rl", "coe"), ("direct-sft", "sft-direct", "direct"))
"""(name, adapter folder under --out or None, ``toolthink eval --mode``) of each model."""


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink study`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink study", description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="full",
                        help="full (default): the issue's run; quick: minutes, plumbing only")
    parser.add_argument("--out", default="runs/study", help="output folder (default: "
                        "runs/study); rerun with the same one to resume")
    parser.add_argument("--data-dir", default=os.environ.get("TOOLTHINK_DATA_DIR"),
                        help="benchmark folder (layout of ../shared/data): MBPP train/test, "
                        "QuixBugs, HumanEvalFix; default: $TOOLTHINK_DATA_DIR; without it, the "
                        "embedded corpus only")
    parser.add_argument("--model", default="embedded",
                        help="base model: 'embedded' (default), a model folder or a cached hub id")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and training")
    parser.add_argument("--stop-after", type=positive_int, metavar="N",
                        help="run the first N stages only (rerun without it to go on)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write report.md from the evaluations finished so "
                        "far (the others are listed as not evaluated)")
    return parser


def _demos(out: Path, budget: StudyBudget, data_dir: str | None, seed: int) -> list[Stage]:
    source = ["--source", "mbpp", "--data-dir", data_dir] if data_dir else ["--source",
                                                                           "embedded"]
    limit = [] if budget.problems is None else ["--limit", str(budget.problems)]
    return [
        Stage("demonstrations: Chain-of-Edits", "toolthink.data.cli",
              ["demos", *source, "--split", "train", "--per-problem", str(budget.per_problem),
               "--max-edits", str(budget.max_edits), "--seed", str(seed), *limit,
               *(["--detours", str(budget.detours)] if budget.detours else []),
               "--out", str(out / "demos-coe")], out / "demos-coe"),
        Stage("demonstrations: direct answers to the same bugs", "toolthink.data.cli",
              ["demos", "--format", "direct", "--from", str(out / "demos-coe"),
               "--out", str(out / "demos-direct")], out / "demos-direct"),
    ]


def _training(out: Path, budget: StudyBudget, data_dir: str | None, model: str,
              seed: int) -> list[Stage]:
    def sft(demos: str, folder: str) -> list[str]:
        return ["--model_name_or_path", model, "--demos", str(out / demos),
                "--output_dir", str(out / folder), "--max_steps", str(budget.sft_steps),
                "--per_device_train_batch_size", str(budget.sft_batch),
                "--gradient_accumulation_steps", str(budget.sft_accum),
                "--max_length", str(budget.max_length), "--save_strategy", "steps",
                "--save_steps", str(budget.save_steps), "--save_total_limit", "2",
                "--eval_episodes", "0", "--seed", str(seed), *trainer_flags("sft_cpu.yaml")]

    tasks = ["--task_source", "mbpp", "--data_dir", data_dir] if data_dir else []
    limit = [] if budget.problems is None else ["--max_problems", str(budget.problems)]
    return [
        Stage("SFT on Chain-of-Edits demonstrations", "toolthink.training.sft_cli",
              sft("demos-coe", "sft-coe"), out / "sft-coe", resumable=True),
        Stage("RL from the Chain-of-Edits adapter", "toolthink.training.rl_cli",
              ["--model_name_or_path", model, "--adapter", str(out / "sft-coe"),
               "--output_dir", str(out / "rl"), *tasks, *limit,
               "--max_steps", str(budget.rl_steps), "--max_turns", str(budget.rl_turns),
               "--save_strategy", "steps", "--save_steps", str(budget.save_steps),
               "--save_total_limit", "2", *rl_group_flags(), "--seed", str(seed),
               *trainer_flags("rl_cpu.yaml")], out / "rl", resumable=True),
        Stage("SFT on direct demonstrations (same steps and batch)",
              "toolthink.training.sft_cli", sft("demos-direct", "sft-direct"),
              out / "sft-direct", resumable=True),
    ]


def eval_runs(out: Path, data_dir: str | None) -> list[tuple[str, str, Path]]:
    """(model, dataset, folder) of every evaluation, in the order they run."""
    datasets = [HELDOUT, *(("quixbugs", "humanevalfix") if data_dir else ())]
    return [(name, dataset, out / "eval" / f"{name}--{dataset}")
            for name, _, _ in MODELS for dataset in datasets]


def stages(out: Path, *, budget: StudyBudget, data_dir: str | None, model: str = "embedded",
           seed: int = 0) -> list[Stage]:
    """The study's stages, in the order that gives the main result first.

    The held-out set, the Chain-of-Edits data and SFT, then its held-out score and
    the base model's (the issue's first acceptance line); then the direct
    baseline, RL, and last the benchmark evaluations. A study interrupted after
    any stage has therefore measured the most it could with the time it had.
    """
    heldout_limit = [] if budget.eval_limit is None else ["--limit", str(budget.eval_limit)]
    data = ["--data-dir", data_dir] if data_dir else []
    heldout = Stage("the held-out evaluation set", "toolthink.data.cli",
                    ["heldout", *data, *heldout_limit,
                     "--out", str(out / "heldout" / "heldout.jsonl")], out / "heldout")
    demos_coe, demos_direct = _demos(out, budget, data_dir, seed)
    sft_coe, rl, sft_direct = _training(out, budget, data_dir, model, seed)
    adapters = {name: folder for name, folder, _ in MODELS}
    modes = {name: mode for name, _, mode in MODELS}
    evals: dict[tuple[str, str], Stage] = {}
    for name, dataset, folder in eval_runs(out, data_dir):
        limit = budget.eval_limit if dataset == HELDOUT else budget.bench_limit
        adapter = adapters[name]
        evals[name, dataset] = Stage(
            f"evaluation: {name} on {dataset}", "toolthink.evaluation.cli",
            ["--model", model, "--adapter", str(out / adapter) if adapter else "none",
             "--dataset", dataset, *data, "--mode", modes[name],
             *([] if limit is None else ["--limit", str(limit)]),
             "--max-turns", str(budget.max_turns), "--max-new-tokens", str(budget.max_new_tokens),
             "--direct-max-new-tokens", str(budget.direct_tokens), "--seed", str(seed),
             "--batch", str(budget.eval_batch),
             "--no-figures", "--out", str(folder)], folder)
    first = [heldout, demos_coe, sft_coe, evals.pop(("coe-sft", HELDOUT)),
             evals.pop(("base", HELDOUT)), demos_direct, sft_direct,
             evals.pop(("direct-sft", HELDOUT)), rl, evals.pop(("coe-sft-rl", HELDOUT))]
    return [*first, *evals.values()]


def heldout_check(out: Path, data_dir: str | None) -> str:
    """Whether every held-out evaluation scored exactly the tasks of ``heldout/heldout.jsonl``.

    ``toolthink eval --dataset heldout`` rebuilds the set at its fixed seed
    rather than reading the file; this line of the report says they agree
    (task ids, from each evaluation's ``episodes.jsonl``).
    """
    if not (out / "heldout" / "heldout.jsonl").is_file():
        return "no held-out file yet"
    expected = {row["id"] for row in read_jsonl(out / "heldout" / "heldout.jsonl")}
    differ, checked = [], 0
    for name, dataset, folder in eval_runs(out, data_dir):
        episodes = folder / "episodes.jsonl"
        if dataset == HELDOUT and episodes.is_file():
            checked += 1
            scored = {row["task_id"] for row in read_jsonl(episodes)}
            if scored != expected:
                differ.append(f"{name} ({len(scored ^ expected)} tasks differ)")
    if not checked:
        return f"no held-out evaluation finished yet (the file has {len(expected)} tasks)"
    return (f"every finished evaluation ({checked}) scored the file's {len(expected)} tasks"
            if not differ else "MISMATCH with the file: " + ", ".join(differ))


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) the study and write its report; returns the exit status."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    job_environment()
    out = Path(args.out)
    problem = (f"--out {out} is a file: name a folder" if out.exists() and not out.is_dir()
               else data_dir_problem(args.data_dir))
    if problem:
        sys.stderr.write(f"{_PROG}: {problem}\n")
        return 2
    budget = BUDGETS[args.budget]
    plan = stages(out, budget=budget, data_dir=args.data_dir, model=args.model, seed=args.seed)
    try:
        status = 0 if args.report_only else run_stages(plan[:args.stop_after], resume=True)
    except ToolthinkError as e:
        sys.stderr.write(f"{_PROG}: {e}\n")
        return 2
    if status:
        return status
    if (not args.report_only and args.stop_after is not None
            and args.stop_after < len(plan)):
        log.info("\nstopped after %d of %d stages; rerun without --stop-after to go on and "
                 "write the report (--report-only: a report of what finished)", args.stop_after,
                 len(plan))
        return 0
    from toolthink.evaluation.study_report import EvalRun, write_study_report  # noqa: PLC0415

    command = "toolthink study " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    settings = {"budget": f"{args.budget} ({asdict(budget)})", "seed": args.seed,
                "base model": args.model,
                "train problems": ("MBPP train split (601-974) from " + args.data_dir
                                   if args.data_dir else "embedded corpus, train split"),
                "held-out set": str(out / "heldout" / "heldout.jsonl"),
                "held-out check": heldout_check(out, args.data_dir)}
    report = write_study_report(out, [EvalRun(*run) for run in eval_runs(out, args.data_dir)],
                                heldout=HELDOUT, command=command, settings=settings)
    log.info("\nwrote %s", report)
    return 0


if __name__ == "__main__":  # python -m toolthink.study
    sys.exit(main())
