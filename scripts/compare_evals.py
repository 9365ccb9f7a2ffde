"""Compare Chain-of-Edits evaluations on the tasks they all played: a Markdown table.

Usage::

    python scripts/compare_evals.py NAME=EPISODES [NAME=EPISODES ...] [--tasks FILE.jsonl]

Each EPISODES is what ``toolthink eval --out DIR`` writes: ``DIR/episodes.jsonl``,
or the journal ``DIR/episodes.partial.jsonl`` of an evaluation still under way or
stopped (`toolthink.evaluation.journal`). Only tasks every file holds (and, with
``--tasks``, only the ids of that JSONL file) are counted, so the rows compare
the same tasks. Columns: pass@1 with Wilson's 95 % interval, tests passing at
any turn, ``EXIT`` shares, ``stuck %`` and rejected commands
(`toolthink.evaluation.metrics.episode_stats`). It reads files only: no model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolthink.evaluation.journal import read_journal
from toolthink.evaluation.metrics import episode_stats, wilson_interval

MODE = "chain-of-edits"


def _records(path: Path) -> list[dict[str, Any]]:
    if path.name.endswith(".partial.jsonl"):
        _, by_mode = read_journal(path)
        return list(by_mode.get(MODE, []))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if r.get("mode") == MODE]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def table(runs: dict[str, list[dict[str, Any]]], only: set[str] | None = None) -> str:
    """The Markdown table of ``runs`` (name -> records) on their common tasks."""
    common = set.intersection(*({r["task_id"] for r in rs} for rs in runs.values()))
    if only is not None:
        common &= only
    head = ["model", "tasks", "pass@1 % [95 % CI]", "tests pass at a turn %", "EXIT %",
            "EXIT failing %", "stuck %", "rejected %", "tokens / task"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, records in runs.items():
        chosen = [r for r in records if r["task_id"] in common]
        n, solved = len(chosen), sum(bool(r["passed"]) for r in chosen)
        low, high = wilson_interval(solved, n)
        ever = sum(any(t.get("passed") for t in r["turns"]) for r in chosen)
        turns = [t for r in chosen for t in r["turns"]]
        rejected = sum(t.get("status") == "rejected" for t in turns)
        stats = episode_stats(chosen)
        cells = [name, str(n), f"{_pct(solved / n)} [{_pct(low)}, {_pct(high)}]",
                 _pct(ever / n), _pct(stats["exit_share"]), _pct(stats["exit_failing_share"]),
                 _pct(stats["stuck_share"]), _pct(rejected / len(turns) if turns else None),
                 f"{stats['tokens_per_task']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; exit status 2 for a malformed NAME=EPISODES."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=EPISODES")
    parser.add_argument("--tasks", help="count only the ids of this JSONL file")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"{item!r} is not NAME=EPISODES with an existing file: e.g. "
                         "coe-sft=runs/eval/episodes.jsonl")
        runs[name] = _records(Path(path))
    only = None
    if args.tasks:
        only = {json.loads(line)["id"] for line in Path(args.tasks).read_text().splitlines()
                if line.strip()}
    print(table(runs, only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
