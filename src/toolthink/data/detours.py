"""Detours: a wrong command inserted into a demonstration, then the recovery.

A demonstration built from reversed corruptions only ever shows commands that
are right. A model trained on them has never seen a command rejected, nor a
state whose tests still fail after its own edit, and it does not react to
either: on 2026-12-04 a CoE-SFT model sent the same rejected command turn after
turn in 10 of 32 held-out episodes (docs/results/study-2026-12-04). A detour
shows the reaction. Before one right command of the trace, a wrong one is
inserted; the environment's feedback on it follows as usual; then, when the wrong
command changed the code, the commands that undo it; then the trace goes on.
The wrong command is *not trained on* (its index is listed in the record's
``untrained``, and `toolthink.rollout.chat.ChatFormat.encode_episode` gives its
tokens no label): the model learns what to do after a mistake, not to make it.

Two kinds of wrong command, both near the right one, as a model's mistakes are:

- ``wrong line``: the right command aimed at a line 1 to 3 away (applied, so
  the recovery undoes it; rejected when the text is not on that line);
- ``absent text``: a ``REPW`` on the right line whose old text is a word of
  another line that this line does not hold (always rejected: "does not occur").

This is the lever "demonstrations that teach reading the feedback" of issue 16;
the idea of training only on the recovery after an injected mistake is the
masked-mistake form of DAgger-style data (Ross et al., 2011) used for tool-use
agents.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Sequence

import attrs

from toolthink.data.traces import diff_commands
from toolthink.dsl import (
    Command,
    Exit,
    ReplaceText,
    execute,
)
from toolthink.tool import CodeEditor

__all__ = ["Detour", "DetourKind", "add_detour"]

_WORD = re.compile(r"[A-Za-z_]\w*|\d+")


class DetourKind(enum.StrEnum):
    """How the inserted command is wrong."""

    WRONG_LINE = "wrong line"
    ABSENT_TEXT = "absent text"


@attrs.frozen
class Detour:
    """A trace with one wrong command inserted.

    Attributes:
        commands: The new trace: the right commands before ``turn``, the wrong
            command, the commands that undo it (none when it was rejected or
            changed nothing), then the rest of the right trace.
        turn: Index of the wrong command in ``commands`` (not to be trained on).
        kind: How it is wrong.
        rejected: Whether the editor rejects it (the code stays as it was).
    """

    commands: tuple[Command, ...]
    turn: int
    kind: DetourKind
    rejected: bool


def _replay(source: str, commands: Sequence[Command]) -> CodeEditor:
    editor = CodeEditor(source)
    for command in commands:
        if not execute(command, editor).ok:
            msg = f"the right trace does not replay on its source: {command!r} was rejected"
            raise ValueError(msg)
    return editor


def _wrong_line(command: Command, count: int, rng: random.Random) -> Command | None:
    number = getattr(command, "line", None)
    if number is None:
        return None
    shifts = [s for s in (-3, -2, -1, 1, 2, 3) if 1 <= number + s <= count]
    if not shifts:
        return None
    return attrs.evolve(command, line=number + rng.choice(shifts), span=None)


def _absent_text(command: Command, lines: Sequence[str], rng: random.Random) -> Command | None:
    number = getattr(command, "line", None)
    if number is None or not 1 <= number <= len(lines):
        return None
    here = lines[number - 1]
    words = sorted({w for i, line in enumerate(lines) if i != number - 1
                    for w in _WORD.findall(line) if w not in here})
    if not words:
        return None
    old = rng.choice(words)
    new = rng.choice([w for w in words if w != old] or [old + "1"])
    return ReplaceText(number, old, new)


def add_detour(source: str, trace: Sequence[Command], rng: random.Random) -> Detour | None:
    """Insert one wrong command before a random right command of ``trace``.

    Args:
        source: The program the trace starts from (the corrupted program).
        trace: The right commands, ending in ``EXIT``; each must apply.
        rng: Chooses the turn, the kind of mistake and its text.

    Returns:
        The detour, or None when no wrong command could be made for the chosen
        turn (a one-line program, a wrong command that changes nothing).

    Raises:
        ValueError: ``trace`` does not replay on ``source``.
    """
    edits = [i for i, command in enumerate(trace) if not isinstance(command, Exit)]
    if not edits:
        return None
    turn = rng.choice(edits)
    before = _replay(source, trace[:turn])
    lines = before.snapshot.lines
    kind = rng.choice(list(DetourKind))
    if kind is DetourKind.WRONG_LINE:
        wrong = _wrong_line(trace[turn], len(lines), rng)
    else:
        wrong = _absent_text(trace[turn], lines, rng)
    if wrong is None:
        return None
    after = CodeEditor(before.source)
    rejected = not execute(wrong, after).ok
    if rejected:
        undo: list[Command] = []
    else:
        if after.source == before.source:
            return None
        undo = diff_commands(after.snapshot.lines, lines)
        if not undo or _replay(after.source, undo).source != before.source:
            return None
    commands = (*trace[:turn], wrong, *undo, *trace[turn:])
    return Detour(tuple(commands), turn, kind, rejected)
