"""The interpreter: `execute` applies IR to an editor, one command at a time.

The language layer does not know the editor's class (nor LibCST): it reaches it
through the small `Editor` protocol below. A model's mistake (a line number out
of range, REPW text not on the line, a command after EXIT) is a `Rejected`
value whose message echoes the command and says what the valid choices are;
the editor is left unchanged. Only bugs raise.

REPW semantics: ``REPW n >>>old >>>new`` replaces the FIRST occurrence of
``old`` in line n (leftmost, as ``str.replace(old, new, 1)``); to change a later
occurrence, give a longer old text that starts at it, or rewrite the line with
REPL. A REPW whose result is empty leaves an empty line (it never deletes the
line: that is DELL's job).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import attrs

from toolthink.dsl.ir import (
    AddLine,
    Command,
    DeleteLine,
    Exit,
    Program,
    ReplaceLine,
    ReplaceText,
)
from toolthink.dsl.printer import format_command

__all__ = ["Applied", "Editor", "Exited", "Outcome", "Rejected", "Step", "execute"]


@runtime_checkable
class Editor(Protocol):
    """What `execute` needs from an editor (`toolthink.tool.CodeEditor` has it).

    Lines are numbered from 1; a line's text excludes its line ending, which the
    editor keeps.
    """

    @property
    def line_count(self) -> int:
        """Number of lines in the current text."""
        ...

    @property
    def exited(self) -> bool:
        """Whether an ``EXIT`` was applied."""
        ...

    def line(self, number: int) -> str:
        """Return line ``number`` (1-based) without its line ending."""
        ...

    def splice(self, start: int, stop: int, lines: Sequence[str], *, command: object) -> None:
        """Replace lines ``start+1 .. stop`` (a 0-based, half-open slice) by ``lines``.

        ``command`` is recorded in the editor's history.
        """
        ...

    def exit(self, *, command: object) -> None:
        """Record an ``EXIT``; afterwards `exited` is True."""
        ...


@attrs.frozen
class Applied:
    """The command changed the editor's text as asked."""

    command: Command

    @property
    def message(self) -> str:
        """A short confirmation for logs."""
        return f"applied: {format_command(self.command)}"


@attrs.frozen
class Exited:
    """``EXIT`` was applied: the episode is over."""

    command: Exit

    @property
    def message(self) -> str:
        """A short confirmation for logs."""
        return "EXIT: episode ended"


@attrs.frozen
class Rejected:
    """The command could not be applied; the editor is unchanged.

    Attributes:
        command: The command, as the model sent it.
        reason: What was wrong and the valid choices, for the model to act on.
    """

    command: Command
    reason: str

    @property
    def message(self) -> str:
        """The text the model reads: its command echoed, then the reason."""
        return f"error in {format_command(self.command)!r}: {self.reason}"


Step: TypeAlias = Applied | Exited | Rejected
"""The result of one command."""


@attrs.frozen
class Outcome:
    """The result of `execute`: one step per command run, in order.

    Execution stops at the first rejected command, so only the last step can
    be `Rejected`.
    """

    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        """True when no command was rejected."""
        return not any(isinstance(s, Rejected) for s in self.steps)

    @property
    def exited(self) -> bool:
        """True when an ``EXIT`` was applied."""
        return any(isinstance(s, Exited) for s in self.steps)

    @property
    def message(self) -> str:
        """The rejection the model should read, or an empty string when none."""
        return "\n".join(s.message for s in self.steps if isinstance(s, Rejected))


def execute(command_or_program: Command | Program, editor: Editor) -> Outcome:
    """Apply a command, or each command of a program in order, to ``editor``.

    Args:
        command_or_program: One command, or a program.
        editor: The editor to change (see `Editor`).

    Returns:
        An `Outcome` with one step per command run; execution stops at the
        first `Rejected` step, which leaves the editor as it was before it.

    Raises:
        TypeError: ``command_or_program`` is not IR.
    """
    commands = (
        command_or_program.commands
        if isinstance(command_or_program, Program)
        else (command_or_program,)
    )
    steps: list[Step] = []
    for command in commands:
        step = _step(command, editor)
        steps.append(step)
        if isinstance(step, Rejected):
            break
    return Outcome(tuple(steps))


def _choices(high: int) -> str:
    # "use line number 1" rather than "use a line number from 1" when 1 is the only choice.
    return "line number 1" if high == 1 else f"a line number from 1 to {high}"


def _check_line(command: Command, number: int, editor: Editor, *, append: bool) -> Rejected | None:
    count = editor.line_count
    high = count + 1 if append else count
    if 1 <= number <= high:
        return None
    if high == 0:
        return Rejected(command, "the file is empty: add its first line with ADDL 1")
    size = f"the file has {count} line{'s' if count != 1 else ''}"
    extra = f" ({count + 1} appends)" if append else ""
    return Rejected(
        command, f"line {number} does not exist: {size}; use {_choices(high)}{extra}",
    )


def _step(command: Command, editor: Editor) -> Step:
    if not isinstance(command, AddLine | ReplaceLine | ReplaceText | DeleteLine | Exit):
        msg = f"{command!r} is not a command: pass parse() or parse_command() output"
        raise TypeError(msg)
    if editor.exited:
        return Rejected(command, "the episode already ended with EXIT; no command can follow it")
    match command:
        case AddLine(line, text):  # ADDL <n> >>><text>
            if bad := _check_line(command, line, editor, append=True):
                return bad
            editor.splice(line - 1, line - 1, (text,), command=command)
        case ReplaceLine(line, text):  # REPL <n> >>><text>
            if bad := _check_line(command, line, editor, append=False):
                return bad
            editor.splice(line - 1, line, (text,), command=command)
        case ReplaceText(line, old, new):  # REPW <n> >>><old> >>><new>
            if bad := _check_line(command, line, editor, append=False):
                return bad
            current = editor.line(line)
            if old not in current:
                return Rejected(
                    command,
                    f"{old!r} does not occur in line {line}, which is: {current!r}",
                )
            editor.splice(line - 1, line, (current.replace(old, new, 1),), command=command)
        case DeleteLine(line):  # DELL <n>
            if bad := _check_line(command, line, editor, append=False):
                return bad
            editor.splice(line - 1, line, (), command=command)
        case Exit():  # EXIT
            editor.exit(command=command)
            return Exited(command)
    return Applied(command)
