"""``toolthink show EPISODES.jsonl``: replay episodes turn by turn in a terminal.

Each line of the file is one episode as `toolthink eval` writes it::

    {"task_id": str, "mode": "chain-of-edits" | "direct", "sample": int,
     "passed": bool, "initial_code": str,
     "turns": [{"command": str, "status": str, "reward": float,
                "code": str, "feedback": str}, ...]}

For every turn it shows the command, the diff it made to the code and the test
feedback. ``--html FILE`` also saves the same view as a self-contained HTML page.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from toolthink.commands import output_file_problem, positive_int, usage_error

__all__ = ["EPISODE_FIELDS", "main", "make_parser", "not_an_episode", "show_episode"]

_PROG = "toolthink show"

EPISODE_FIELDS = ("task_id", "mode", "sample", "passed", "initial_code", "turns")
"""The fields of an evaluation episode (`toolthink.evaluation.records`)."""

_LOOKALIKES = (
    ({"corrupted", "commands", "observations"}, "a demonstrations file (demos.jsonl from "
     "`toolthink data demos`; train on it with `toolthink-train sft --demos`)"),
    ({"commands", "infos", "rewards"}, "RL sample episodes (trajectories.jsonl from "
     "`toolthink-train rl`)"),
)


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink show`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink show", description=__doc__.splitlines()[0])
    parser.add_argument("episodes", help="an episodes JSONL file written by toolthink eval")
    parser.add_argument("--task", help="only episodes of this task id")
    parser.add_argument("--failed", action="store_true", help="only episodes that failed")
    parser.add_argument("--limit", type=positive_int, default=None, help="at most N episodes")
    parser.add_argument("--html", help="also save the view as an HTML page to this file")
    return parser


def _diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                 lineterm="", n=1)
    return "\n".join(list(lines)[2:])


def not_an_episode(record: object) -> str | None:
    """What ``record`` looks like when it is not an evaluation episode; None when it is one."""
    if isinstance(record, dict) and "initial_code" in record and isinstance(
            record.get("turns"), list):
        return None
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}"
    keys = set(record)
    for fields, what in _LOOKALIKES:
        if fields <= keys:
            return what
    return f"a record with the fields {sorted(keys)}"


def show_episode(console: Console, episode: dict[str, Any]) -> None:
    """Print one episode: its header, then each turn's command, diff and feedback."""
    verdict = "[green]repaired[/]" if episode.get("passed") else "[red]not repaired[/]"
    console.rule(f"{episode.get('task_id', '?')}  sample {episode.get('sample', 0)}  "
                 f"({episode.get('mode', 'chain-of-edits')})  {verdict}")
    code = str(episode.get("initial_code", ""))
    console.print(Panel(Syntax(code, "python", line_numbers=True), title="initial code"))
    for number, turn in enumerate(episode.get("turns", []), 1):
        status = turn.get("status", "")
        style = {"applied": "cyan", "exit": "green"}.get(status, "red")
        head = Text.assemble((f"turn {number} ", "bold"), (str(turn.get("command")), style),
                             f"  [{status}, reward {turn.get('reward', 0):+g}]")
        console.print(head)
        after = str(turn.get("code", code))
        diff = _diff(code, after)
        if diff:
            console.print(Syntax(diff, "diff"))
        feedback = str(turn.get("feedback", "")).strip()
        if feedback:
            console.print(Text(feedback, style="dim"))
        code = after


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``toolthink show``; returns the exit status."""
    args = make_parser().parse_args(argv)
    path = Path(args.episodes)
    if not path.is_file():
        usage_error(_PROG, f"{path} is not a file: pass the episodes JSONL that toolthink "
                    "eval wrote")
    if args.html is not None:
        problem = output_file_problem("--html", args.html)
        if problem is not None:
            usage_error(_PROG, problem)
    console = Console(record=bool(args.html))
    shown = 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                episode = json.loads(line)
            except json.JSONDecodeError as e:
                usage_error(_PROG, f"line {number} of {path} is not JSON ({e})")
            looks = not_an_episode(episode)
            if looks is not None:
                usage_error(_PROG, f"line {number} of {path} is not an evaluation episode: it "
                            f"looks like {looks}. show replays the episodes.jsonl that "
                            "`toolthink eval --out DIR` writes (fields "
                            f"{', '.join(EPISODE_FIELDS)})")
            if args.task and episode.get("task_id") != args.task:
                continue
            if args.failed and episode.get("passed"):
                continue
            show_episode(console, episode)
            shown += 1
            if args.limit is not None and shown >= args.limit:
                break
    if args.html:
        Path(args.html).write_text(console.export_html(), encoding="utf-8")
    if shown == 0:
        console.print("no episode matched")
    return 0
