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

``--quick`` runs the fewest steps of every stage. Each stage runs as its own
process (``python -m``, the printed command; `toolthink.stages`, the machinery
``toolthink study`` resumes with), so its memory is returned when it ends; a
stage silent for 30 s gets a "still running" line. The job ends with one table
comparing the two modes per dataset (also ``summary.md`` and ``summary.json``
at the top of the output folder, with each stage's time), and the results page
of every evaluation, ``report.html`` (`toolthink report`). Wall
times on 2 CPU cores: benchmarks/README.md, "Main job". Numbers from so short
a run measure the plumbing, not the method: see docs/recipes.md for real
recipes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolthink.evaluation.episode_view import turns_note
from toolthink.markdown import markdown_table
from toolthink.stages import (
    Stage,
    data_dir_problem,
    job_environment,
    rl_group_flags,
    run_stages,
    trainer_flags,
)

__all__ = ["FULL", "QUICK", "Budget", "Summary", "main", "make_parser", "stages", "summary_table",
           "write_summary"]

log = logging.getLogger("toolthink.pipeline")


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink demo`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink demo", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fewest steps of every stage")
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse a non-empty --out, replacing the outputs of an earlier run")
    parser.add_argument("--data-dir", default=os.environ.get("TOOLTHINK_DATA_DIR"),
                        help="benchmark folder (layout of ../shared/data) to also evaluate on "
                             "QuixBugs and HumanEvalFix; default: $TOOLTHINK_DATA_DIR")
    return parser


@dataclass(frozen=True)
class Budget:
    """How much of each stage a run does (``--quick`` or the default).

    Chosen so that the whole job fits the issue's budget on 2 CPU cores
    (about 5 minutes quick, at most 30 otherwise; measured figures:
    benchmarks/README.md, "Main job"). Evaluation plays fewer turns than the
    paper's 10 (`toolthink eval --max-turns`): on CPU every turn re-reads the
    whole episode, and RL here trains on 3-turn episodes.
    """

    per_problem: int  # demonstrations attempted per embedded train problem
    sft_steps: int
    rl_steps: int
    rl_turns: int  # commands per RL episode
    samples: int  # attempts per task in evaluation (pass@k up to this k)
    eval_limit: int  # held-out embedded tasks evaluated (the split has 14)
    bench_limit: int  # QuixBugs / HumanEvalFix tasks evaluated, with --data-dir
    max_turns: int  # commands per evaluation episode
    direct_tokens: int  # tokens of a direct answer


QUICK = Budget(per_problem=1, sft_steps=4, rl_steps=1, rl_turns=2, samples=1, eval_limit=4,
               bench_limit=3, max_turns=3, direct_tokens=256)
FULL = Budget(per_problem=6, sft_steps=40, rl_steps=5, rl_turns=3, samples=2, eval_limit=14,
              bench_limit=10, max_turns=5, direct_tokens=384)


SFT_BATCH_FLAGS = ("--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "2")
"""Two demonstrations per SFT step, read one at a time (benchmarks/README.md, "Memory").

The same update as a batch of 2 (the loss is summed over both sequences'
trained tokens and divided by their count: transformers' ``num_items_in_batch``),
with half the activations alive at once and no padding of the shorter one to the
longer: the stage peaked at 6.4 GiB with batches of 2 of up to 1,024 tokens."""


def stages(out: Path, *, quick: bool, data_dir: str | None) -> list[Stage]:
    """The stages; ``stage.module``'s ``main(stage.argv)`` runs one."""
    budget = QUICK if quick else FULL
    ks = ",".join(str(k) for k in range(1, budget.samples + 1))

    def evaluation(dataset: str, limit: int, extra: list[str]) -> list[str]:
        return ["--model", "embedded", "--adapter", str(out / "rl"), "--dataset", dataset,
                *extra, "--samples", str(budget.samples), "--k", ks, "--mode", "both",
                "--limit", str(limit), "--max-turns", str(budget.max_turns),
                "--direct-max-new-tokens", str(budget.direct_tokens),
                "--out", str(out / f"eval-{dataset}")]

    result = [
        Stage("demonstrations", "toolthink.data.cli",
              ["demos", "--source", "embedded", "--split", "train",
               "--per-problem", str(budget.per_problem), "--out", str(out / "demos")],
              out / "demos"),
        Stage("supervised fine-tuning", "toolthink.training.sft_cli",
              ["--demos", str(out / "demos"), "--output_dir", str(out / "sft"),
               "--max_steps", str(budget.sft_steps), *SFT_BATCH_FLAGS,
               "--max_length", "1024", "--save_strategy", "no", *trainer_flags("sft_cpu.yaml")],
              out / "sft"),
        Stage("reinforcement learning", "toolthink.training.rl_cli",
              ["--adapter", str(out / "sft"), "--output_dir", str(out / "rl"),
               "--max_steps", str(budget.rl_steps), "--save_strategy", "no",
               "--max_turns", str(budget.rl_turns), *rl_group_flags(),
               *trainer_flags("rl_cpu.yaml")], out / "rl"),
        Stage("evaluation: embedded held-out problems", "toolthink.evaluation.cli",
              evaluation("embedded", budget.eval_limit, []), out / "eval-embedded"),
    ]
    if data_dir:
        for dataset in ("quixbugs", "humanevalfix"):
            result.append(Stage(f"evaluation: {dataset}", "toolthink.evaluation.cli",
                                evaluation(dataset, budget.bench_limit, ["--data-dir", data_dir]),
                                out / f"eval-{dataset}"))
    return result


def _check_out(out: Path, *, overwrite: bool) -> str | None:
    """Why ``out`` cannot take this run's outputs, or None."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file: name a folder"
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        return (f"--out {out} already holds files (an earlier run?): name another folder, "
                "or pass --overwrite to replace its outputs")
    return None


@dataclass(frozen=True)
class Summary:
    """The job's comparison, read from every ``eval-*/results.json`` under the output folder.

    Columns: the dataset, its tasks, pass@k of Chain-of-Edits (CoE) and of the
    direct-answer baseline for each k evaluated, then CoE's mean turns. The
    terminal table, ``summary.md`` and ``summary.json`` all show these rows.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]  # what a reader of the table needs (turns no model chose, lost data)
    results: dict[str, Any]  # dataset -> its results.json

    @classmethod
    def read(cls, out: Path) -> Summary | None:
        """The summary of ``out``; None when no evaluation ran."""
        found = {p.parent.name.removeprefix("eval-"): json.loads(p.read_text(encoding="utf-8"))
                 for p in sorted(out.glob("eval-*/results.json"))}
        if not found:
            return None
        ks = sorted({int(k) for r in found.values() for k in r["settings"].get("ks", [1])})
        header = ("dataset", "tasks", *[f"{short} pass@{k}" for short in ("CoE", "direct")
                                        for k in ks], "CoE turns")
        rows, notes = [], []
        for dataset, results in found.items():
            modes = results["modes"]
            cells = [dataset, str(results["settings"].get("tasks", "?"))]
            for mode in ("chain-of-edits", "direct"):
                overall = modes.get(mode, {}).get("pass_at_k", {}).get("all", {})
                cells += [f"{overall[f'pass@{k}']:.3f}" if f"pass@{k}" in overall else "-"
                          for k in ks]
            coe = modes.get("chain-of-edits", {})
            turns = coe.get("mean_turns")
            cells.append("-" if turns is None else f"{turns:.2f}")
            rows.append(tuple(cells))
            for mode in results["settings"].get("modes_on_base_model", []):
                notes.append(f"{dataset}: {mode} ran on the base model (the adapter was not "
                             f"trained on {mode} answers)")
            note = turns_note(coe.get("exit_rate"), results["settings"].get("max_turns"))
            if note is not None:
                notes.append(f"{dataset}: {note}")
        overlong = _read_json(out / "sft" / "metrics.json").get("data", {}).get("overlong_note")
        if overlong:
            notes.append(f"supervised fine-tuning: {overlong}")
        return cls(header, tuple(rows), tuple(notes), found)


def _read_json(path: Path) -> dict[str, Any]:
    """``path`` parsed, or {} when it is missing or unreadable (a stage that did not run)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def summary_table(out: Path) -> Any:
    """One table over every ``eval-*/results.json`` under ``out``: the job's comparison.

    Narrow enough for an 80-column terminal with k up to 2; its caption holds
    `Summary.notes`. Returns a ``rich.table.Table`` (None when no evaluation ran).
    """
    from rich.table import Table  # noqa: PLC0415

    summary = Summary.read(out)
    if summary is None:
        return None
    table = Table(title=f"toolthink demo: Chain-of-Edits (CoE) vs direct answers ({out})",
                  caption="\n".join(summary.notes) or None)
    for name in summary.header:
        table.add_column(name, no_wrap=name == "dataset",
                         justify="left" if name == "dataset" else "right")
    for row in summary.rows:
        table.add_row(*row)
    return table


def write_summary(out: Path, stages_run: list[dict[str, Any]], seconds: float) -> list[Path]:
    """Write ``summary.json`` and ``summary.md`` (the final table) at the top of ``out``.

    Args:
        out: The demo's output folder.
        stages_run: ``{"stage", "command", "seconds", "status"}`` per stage run.
        seconds: The job's wall time so far.

    Returns:
        The files written (none when no evaluation ran).
    """
    summary = Summary.read(out)
    if summary is None:
        return []
    payload = {"columns": list(summary.header), "rows": [list(r) for r in summary.rows],
               "notes": list(summary.notes), "stages": stages_run, "wall_seconds": seconds,
               "results": summary.results}
    (out / "summary.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    times = markdown_table(["stage", "command", "seconds", "exit status"],
                           [[s["stage"], f"`{s['command']}`", round(s["seconds"]), s["status"]]
                            for s in stages_run])
    notes = "".join(f"- {note}\n" for note in summary.notes)
    (out / "summary.md").write_text(
        f"# toolthink demo: Chain-of-Edits (CoE) vs direct answers\n\n"
        f"{markdown_table(summary.header, summary.rows)}\n"
        + (f"{notes}\n" if notes else "")
        + f"Every episode: `report.html` (open it in a browser); per dataset: "
        f"`eval-*/results.json`, `toolthink show eval-*/episodes.jsonl`.\n\n"
        f"## Stages ({seconds:.0f} s in all)\n\n{times}", encoding="utf-8")
    return [out / "summary.json", out / "summary.md"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage in order; stops at the first that fails (its exit status)."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    job_environment()
    out = Path(args.out)
    problem = _check_out(out, overwrite=args.overwrite) or data_dir_problem(args.data_dir)
    if problem:
        sys.stderr.write(f"toolthink demo: {problem}\n")
        return 2
    plan = stages(out, quick=args.quick, data_dir=args.data_dir)
    started = time.perf_counter()
    ran: list[dict[str, Any]] = []
    status = run_stages(plan, resume=False, ran=ran)
    if status:
        return status
    table = summary_table(out)
    if table is not None:
        from rich.console import Console  # noqa: PLC0415

        from toolthink.evaluation.page import write_page  # noqa: PLC0415
        from toolthink.evaluation.run_folder import read_run  # noqa: PLC0415

        Console().print(table)
        page = write_page(read_run(out), out / "report.html", title=f"toolthink demo: {out}")
        log.info("results page (every dataset, every episode): %s", page)
        written = write_summary(out, ran, time.perf_counter() - started)
        log.info("the table above, with each stage's time: %s", ", ".join(map(str, written)))
    log.info("\ndone in %.0f s; everything is under %s", time.perf_counter() - started, out)
    return 0
