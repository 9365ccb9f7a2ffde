"""Semantic checks on a parsed program: what the grammar does not forbid.

The grammar accepts commands after ``EXIT`` (so a model's mistake there still
parses into IR); this pass reports them.
"""

from __future__ import annotations

import attrs

from toolthink.dsl.ir import Command, Exit, Program, Span
from toolthink.dsl.printer import format_command

__all__ = ["Diagnostic", "check"]


@attrs.frozen
class Diagnostic:
    """A semantic problem in a program.

    Attributes:
        message: What is wrong and how to fix it.
        command: The command at fault.
        index: Its 0-based position in the program.
    """

    message: str
    command: Command
    index: int

    @property
    def span(self) -> Span | None:
        """Where the command sits in the source text, if parsed."""
        return self.command.span


def check(program: Program) -> tuple[Diagnostic, ...]:
    """Return the program's semantic problems; an empty tuple means none.

    Args:
        program: A parsed or hand-built program.

    Returns:
        One `Diagnostic` per command that follows an ``EXIT``, in order.
    """
    problems: list[Diagnostic] = []
    exit_at: int | None = None
    for index, command in enumerate(program.commands):
        if exit_at is not None:
            msg = (
                f"{format_command(command)!r} comes after EXIT (command {exit_at + 1}): "
                "EXIT ends the episode, so it must be the last command"
            )
            problems.append(Diagnostic(msg, command, index))
        elif isinstance(command, Exit):
            exit_at = index
    return tuple(problems)
