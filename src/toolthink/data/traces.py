"""From a pair of texts to the DSL commands that turn one into the other.

`line_fix` picks the command for one changed line (``REPW`` when a short
unique substring change says it, else ``REPL``); `diff_commands` gives a whole
top-down trace from a line diff (difflib). Both produce commands that, applied
in order through `toolthink.dsl.execute`, rebuild the target exactly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from toolthink.dsl import (
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    ReplaceLine,
    ReplaceText,
    format_command,
)

__all__ = ["diff_commands", "line_fix"]

# Word-ish tokens: identifiers and numbers, runs of operators, single others.
_TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")


def _token_bounds(text: str) -> list[int]:
    bounds = [0]
    for match in _TOKEN.finditer(text):
        bounds.append(match.end())
    return bounds


def line_fix(number: int, current: str, target: str) -> Command:
    """Return one command that changes line ``number`` from ``current`` to ``target``.

    A ``REPW`` is chosen when its old text can be a whole-token span around the
    change whose first occurrence in ``current`` is the changed place and the
    command is shorter than the equivalent ``REPL``; otherwise ``REPL``.

    Args:
        number: 1-based line number.
        current: The line's text now (no line ending).
        target: The text it must become.

    Returns:
        A `ReplaceText` or `ReplaceLine` command.
    """
    repl = ReplaceLine(number, target)
    prefix = 0
    limit = min(len(current), len(target))
    while prefix < limit and current[prefix] == target[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < limit - prefix
           and current[len(current) - 1 - suffix] == target[len(target) - 1 - suffix]):
        suffix += 1
    bounds = _token_bounds(current)
    # Widen [start, stop) to token boundaries around the change, then one more
    # token each side at a time until the old text is unique-first and non-empty.
    start = max(b for b in bounds if b <= prefix)
    stop = min((b for b in bounds if b >= len(current) - suffix), default=len(current))
    while True:
        old = current[start:stop]
        if old and current.find(old) == start and SEPARATOR not in old:
            new = target[start : len(target) - (len(current) - stop)]
            repw = ReplaceText(number, old, new)
            if len(format_command(repw)) < len(format_command(repl)):
                return repw
            return repl
        if start == 0 and stop == len(current):
            return repl
        lower = [b for b in bounds if b < start]
        upper = [b for b in bounds if b > stop]
        start = lower[-1] if lower else 0
        stop = upper[0] if upper else len(current)


def diff_commands(current: Sequence[str], target: Sequence[str]) -> list[Command]:
    """Return commands that turn the lines ``current`` into ``target``, top-down.

    Each command's line number refers to the text as it is when that command
    runs (earlier commands already applied). No ``EXIT`` is appended.

    Args:
        current: The lines of the text to change (no line endings).
        target: The lines it must become.

    Returns:
        Commands in application order; empty when the texts are equal.
    """
    commands: list[Command] = []
    offset = 0  # lines added minus lines removed so far
    matcher = difflib.SequenceMatcher(a=list(current), b=list(target), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        at = i1 + offset + 1  # 1-based line of the block in the text being edited
        if tag == "equal":
            continue
        old_block, new_block = current[i1:i2], target[j1:j2]
        paired = min(len(old_block), len(new_block)) if tag == "replace" else 0
        for k in range(paired):
            commands.append(line_fix(at + k, old_block[k], new_block[k]))
        commands.extend(DeleteLine(at + paired) for _ in range(len(old_block) - paired))
        commands.extend(
            AddLine(at + k, new_block[k]) for k in range(paired, len(new_block))
        )
        offset += len(new_block) - len(old_block)
    return commands
