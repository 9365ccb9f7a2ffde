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
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from toolthink.commands import output_file_problem, positive_int, usage_error

__all__ = ["EPISODE_FIELDS", "episode_problem", "main", "make_parser", "not_an_episode",
           "show_episode"]

_PROG = "toolthink show"

EPISODE_FIELDS = ("task_id", "mode", "sample", "passed", "initial_code", "turns")
"""The fields of an evaluation episode (`toolthink.evaluation.records`)."""

_EPISODE_TYPES: dict[str, tuple[type, ...]] = {
    "task_id": (str,), "mode": (str,), "sample": (int,), "passed": (bool,),
    "initial_code": (str,), "turns": (list,)}
_TURN_TYPES: dict[str, tuple[type, ...]] = {
    "command": (str,), "status": (str,), "reward": (int, float), "code": (str,),
    "feedback": (str,)}
_JSON_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}
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
    if isinstance(record, dict) and {"initial_code", "turns"} <= set(record):
        return None  # an episode, perhaps with fields of the wrong type (episode_problem)
    if not isinstance(record, dict):
        return f"a JSON {_json_type(record)}"
    keys = set(record)
    for fields, what in _LOOKALIKES:
        if fields <= keys:
            return what
    return f"a record with the fields {sorted(keys)}"


def episode_problem(episode: dict[str, Any]) -> str | None:
    """What is wrong with an episode's fields (missing, or of the wrong JSON type); None if fine.

    Checked before anything is shown, so that a hand-edited or foreign file gets
    one line naming the field rather than a traceback from the renderer.
    """
    problem = _fields_problem(episode, _EPISODE_TYPES, "")
    if problem is not None:
        return problem
    for number, turn in enumerate(episode["turns"], 1):
        if not isinstance(turn, dict):
            return f"turn {number} is a JSON {_json_type(turn)}, expected an object"
        problem = _fields_problem(turn, _TURN_TYPES, f"turn {number}: ")
        if problem is not None:
            return problem
    return None


def _fields_problem(record: dict[str, Any], types: dict[str, tuple[type, ...]],
                    where: str) -> str | None:
    missing = [name for name in types if name not in record]
    if missing:
        return f"{where}the fields {missing} are missing"
    for name, expected in types.items():
        value = record[name]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            wanted = " or ".join(_JSON_NAMES[t] for t in expected)
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return (f"{where}field {name!r} is a JSON {_json_type(value)} ({shown}), "
                    f"expected a JSON {wanted}")
    return None


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type (``object``, ``array``, ``string``...)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _plain(text: str) -> str:
    """``text`` safe to print in a terminal.

    Control characters (but newline and tab) and lone surrogates become Python
    escapes, so that no escape sequence in a record reaches the terminal and
    nothing is unencodable.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def show_episode(console: Console, episode: dict[str, Any]) -> None:
    """Print one episode: its header, then each turn's command, diff and feedback.

    ``episode`` has passed `episode_problem`. Text from the record is printed as
    plain text: rich markup in it (``[bold]``, ``[/]``) shows literally.
    """
    verdict = Text("repaired", "green") if episode["passed"] else Text("not repaired", "red")
    console.rule(Text.assemble(f"{_plain(episode['task_id'])}  sample {episode['sample']}  "
                               f"({_plain(episode['mode'])})  ", verdict))
    code = _plain(episode["initial_code"])
    console.print(Panel(Syntax(code, "python", line_numbers=True), title="initial code"))
    for number, turn in enumerate(episode["turns"], 1):
        status = _plain(turn["status"])
        style = {"applied": "cyan", "exit": "green"}.get(status, "red")
        head = Text.assemble((f"turn {number} ", "bold"), (_plain(turn["command"]), style),
                             f"  [{status}, reward {turn['reward']:+g}]")
        console.print(head)
        after = _plain(turn["code"])
        diff = _diff(code, after)
        if diff:
            console.print(Syntax(diff, "diff"))
        feedback = _plain(turn["feedback"]).strip()
        if feedback:
            console.print(Text(feedback, style="dim"))
        code = after


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
    console = Console(record=bool(args.html))
    shown = read = 0
    try:
        for _, episode in _episodes(path):
            read += 1
            if args.task and episode["task_id"] != args.task:
                continue
            if args.failed and episode["passed"]:
                continue
            show_episode(console, episode)
            shown += 1
            if args.limit is not None and shown >= args.limit:
                break
    except BrokenPipeError:
        raise  # the terminal's side (``| head``), not the file
    except OSError as e:
        usage_error(_PROG, f"cannot read {path}: {e.strerror or e}")
    if read == 0:
        usage_error(_PROG, f"{path} is empty: it holds no episode. Pass the episodes.jsonl "
                    "that `toolthink eval --out DIR` wrote")
    if args.html:
        Path(args.html).write_text(console.export_html(), encoding="utf-8")
    if shown == 0:
        console.print("no episode matched")
    return 0
