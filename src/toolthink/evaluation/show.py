"""``toolthink show EPISODES.jsonl``: replay episodes turn by turn in a terminal.

Each line of the file is one episode as `toolthink eval` writes it::

    {"task_id": str, "mode": "chain-of-edits" | "direct", "sample": int,
     "passed": bool, "initial_code": str,
     "turns": [{"command": str, "status": str, "reward": float,
                "code": str, "feedback": str}, ...]}

For every episode it shows the initial code and the tests' report on it, then
for every turn the command, its reward with the reason for it (-0.5 for a
malformed command...), the diff it made to the code and the test feedback, and
last why the episode ended (``EXIT``, the turn limit, the token budget). Long
lines wrap at the terminal's width: nothing is cut. ``--html FILE`` saves the
episodes shown as a results page (`toolthink.evaluation.page`, as
``toolthink report`` writes).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from toolthink.commands import DefaultsHelpFormatter, output_file_problem, positive_int, usage_error
from toolthink.env import StepStatus
from toolthink.evaluation.episode_view import (
    EPISODE_FIELDS,
    diff_lines,
    end_text,
    episode_problem,
    json_type,
    reward_text,
    signed,
)

__all__ = ["EPISODE_FIELDS", "episode_problem", "main", "make_parser", "not_an_episode",
           "show_episode"]

_PROG = "toolthink show"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192

_LOOKALIKES = (
    ({"corrupted", "commands", "observations"}, "a demonstrations file (demos.jsonl from "
     "`toolthink data demos`; train on it with `toolthink-train sft --demos`)"),
    ({"commands", "infos", "rewards"}, "RL sample episodes (trajectories.jsonl from "
     "`toolthink-train rl`)"),
)


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink show`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink show", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("episodes", help="an episodes JSONL file written by toolthink eval")
    parser.add_argument("--task", help="only episodes of this task id (default: every task)")
    parser.add_argument("--failed", action="store_true", help="only episodes that failed")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="at most N episodes (default: all)")
    parser.add_argument("--html", metavar="FILE.html", help="also save the episodes shown as "
                        "a results page (as toolthink report writes; default: none)")
    return parser


def not_an_episode(record: object) -> str | None:
    """What ``record`` looks like when it is not an evaluation episode; None when it is one."""
    if isinstance(record, dict) and {"initial_code", "turns"} <= set(record):
        return None  # an episode, perhaps with fields of the wrong type (episode_problem)
    if not isinstance(record, dict):
        return f"a JSON {json_type(record)}"
    keys = set(record)
    for fields, what in _LOOKALIKES:
        if fields <= keys:
            return what
    return f"a record with the fields {sorted(keys)}"


def _plain(text: str) -> str:
    """``text`` safe to print in a terminal.

    Control characters (but newline and tab) and lone surrogates become Python
    escapes, so that no escape sequence in a record reaches the terminal and
    nothing is unencodable.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def show_episode(console: Console, episode: dict[str, Any], *,
                 max_turns: int | None = None) -> None:
    """Print one episode: header, initial code and test report, each turn, why it ended.

    ``episode`` has passed `episode_problem`. Text from the record is printed as
    plain text: rich markup in it (``[bold]``, ``[/]``) shows literally. Lines
    longer than the console wrap (``word_wrap``); none is cropped.

    Args:
        console: Where to print.
        episode: The record.
        max_turns: The run's turn limit (results.json), to tell the turn limit
            from the token budget in records that do not say which.
    """
    verdict = Text("repaired", "green") if episode["passed"] else Text("not repaired", "red")
    console.rule()
    console.print(Text.assemble((_plain(episode["task_id"]), "bold"),
                                f"  sample {episode['sample']}  ({_plain(episode['mode'])})  ",
                                verdict))
    code = _plain(episode["initial_code"])
    console.print(Panel(Syntax(code.rstrip("\n"), "python", line_numbers=True, word_wrap=True),
                        title="initial code"))
    initial = _plain(str(episode.get("initial_feedback", ""))).strip()
    if initial:
        console.print(Panel(Text(initial), title="initial test report", border_style="yellow"))
    else:
        console.print(Text("(initial test report: not recorded in this file)", style="dim"))
    for index, turn in enumerate(episode["turns"]):
        status = _plain(turn["status"])
        style = ("cyan" if status == StepStatus.APPLIED
                 else "green" if status == StepStatus.EXIT else "red")
        head = Text.assemble((f"turn {index + 1} ", "bold"), (_plain(turn["command"]), style),
                             f"  [{status}, reward {signed(turn['reward'])}]")
        console.print(head)
        if turn["reward"]:
            console.print(Text(f"  reward {_plain(reward_text(episode, index))}", style="yellow"))
        after = _plain(turn["code"])
        diff = "\n".join(diff_lines(code, after))
        if diff:
            console.print(Syntax(diff, "diff", word_wrap=True))
        feedback = _plain(turn["feedback"]).strip()
        if feedback:
            console.print(Text(feedback, style="dim"))
        code = after
    console.print(Text.assemble(("ended: ", "bold"), _plain(end_text(episode, max_turns))))


def _settings(path: Path) -> dict[str, Any]:
    """The ``settings`` of the results.json beside ``path`` ({} when there is none to read)."""
    try:
        settings = json.loads((path.parent / "results.json").read_text(encoding="utf-8"))
        found = settings.get("settings") if isinstance(settings, dict) else None
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _episodes(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, episode)`` for each non-blank line; any other line is a usage error."""
    fix = "show replays the episodes.jsonl that `toolthink eval --out DIR` writes"
    with path.open("rb") as lines:
        head = lines.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        if head.startswith(_GZIP_MAGIC):
            usage_error(_PROG, f"{path} is gzip-compressed: gunzip it, then pass the .jsonl")
        if b"\0" in head:  # JSON text never holds NUL; binary files almost always do early
            usage_error(_PROG, f"{path} is a binary file (NUL bytes in its first "
                        f"{_SNIFF_BYTES // 1024} KiB), not JSONL text; {fix}")
        for number, raw in enumerate(lines, 1):
            where = f"line {number} of {path}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                usage_error(_PROG, f"{where} is not UTF-8 text (byte {e.start + 1}: {e.reason}); "
                            f"{fix}")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except RecursionError:
                usage_error(_PROG, f"{where} nests JSON deeper than Python's json module reads "
                            f"(about 1000 levels); {fix}")
            except ValueError as e:  # JSONDecodeError, or an integer of over 4300 digits
                usage_error(_PROG, f"{where} is not JSON ({e})")
            looks = not_an_episode(record)
            if looks is not None:
                usage_error(_PROG, f"{where} is not an evaluation episode: it looks like "
                            f"{looks}. {fix} (fields {', '.join(EPISODE_FIELDS)})")
            problem = episode_problem(record)
            if problem is not None:
                usage_error(_PROG, f"{where} is not a valid episode: {problem}. Fix the "
                            f"line or {fix[0].lower()}{fix[1:]}")
            yield number, record


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the episodes file, or None."""
    fix = "pass the episodes.jsonl that `toolthink eval --out DIR` wrote"
    if path.is_dir():
        inside = path / "episodes.jsonl"
        if inside.is_file():
            return f"{path} is a folder, not a file: pass {inside}"
        return f"{path} is a folder, not a file: {fix}"
    if not path.exists():
        return f"{path} is not a file (it does not exist): {fix}"
    if not path.is_file():
        return f"{path} is not a file (a device, pipe or socket): {fix}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``toolthink show``; returns the exit status."""
    args = make_parser().parse_args(argv)
    path = Path(args.episodes)
    problem = _file_problem(path)
    if problem is not None:
        usage_error(_PROG, problem)
    if args.html is not None:
        problem = output_file_problem("--html", args.html)
        if problem is not None:
            usage_error(_PROG, problem)
    console = Console()
    settings = _settings(path)
    max_turns = settings.get("max_turns") if isinstance(settings.get("max_turns"), int) else None
    shown: list[dict[str, Any]] = []
    read = 0
    try:
        for _, episode in _episodes(path):
            read += 1
            if args.task and episode["task_id"] != args.task:
                continue
            if args.failed and episode["passed"]:
                continue
            show_episode(console, episode, max_turns=max_turns)
            shown.append(episode)
            if args.limit is not None and len(shown) >= args.limit:
                break
    except BrokenPipeError:
        raise  # the terminal's side (``| head``), not the file
    except OSError as e:
        usage_error(_PROG, f"cannot read {path}: {e.strerror or e}")
    if read == 0:
        usage_error(_PROG, f"{path} is empty: it holds no episode. Pass the episodes.jsonl "
                    "that `toolthink eval --out DIR` wrote")
    if args.html:
        from toolthink.evaluation.page import write_page  # noqa: PLC0415
        from toolthink.evaluation.run_folder import evaluation_of_episodes  # noqa: PLC0415

        evaluation = evaluation_of_episodes(path, shown, settings=settings)
        write_page([evaluation], Path(args.html), title=f"toolthink show: {path}")
    if not shown:
        console.print("no episode matched")
    return 0
