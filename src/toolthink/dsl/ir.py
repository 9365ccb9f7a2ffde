"""The typed IR of the Chain-of-Edits language: one frozen class per command.

Each command mirrors one rule of ``grammar/toolthink.lark``. Values are checked
when built, so that every IR value prints to text that parses back to it
(``parse(format_program(p)) == p``). A `Span` records where a node came from; it
is excluded from equality, so parsed and hand-built nodes compare equal.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from toolthink.errors import ToolthinkError

__all__ = [
    "MAX_LINE",
    "SEPARATOR",
    "AddLine",
    "Command",
    "DeleteLine",
    "Exit",
    "InvalidCommandError",
    "Program",
    "ReplaceLine",
    "ReplaceText",
    "Span",
]

MAX_LINE = 99_999
"""Largest line number the grammar admits (``LINENO: /[1-9][0-9]{0,4}/``)."""

SEPARATOR = " >>>"
"""The payload separator: a space, then three ``>``."""


class InvalidCommandError(ToolthinkError, ValueError):
    """An IR value was built with a field the language cannot express."""


@attrs.frozen
class Span:
    """Where a node sits in the source text.

    Attributes:
        start: Offset of the first character, in characters from 0.
        end: Offset one past the last character, in characters.
        line: 1-based line of the first character.
        column: 1-based column of the first character.
    """

    start: int
    end: int
    line: int
    column: int


def _check_line(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 1 <= value <= MAX_LINE:
        msg = (
            f"{attribute.name}={value!r} is not a line number: "
            f"use an int from 1 to {MAX_LINE} (lines are numbered from 1)"
        )
        raise InvalidCommandError(msg)


def _check_text(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name}={value!r} is not a str: pass the line's text as a str"
        raise InvalidCommandError(msg)
    if "\n" in value or "\r" in value:
        msg = (
            f"{attribute.name}={value!r} holds a line break: a command edits one line, "
            "so split the text into one command per line"
        )
        raise InvalidCommandError(msg)


def _check_old(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    _check_text(instance, attribute, value)
    if not value:
        msg = "old='' is empty: REPW needs the non-empty text to replace (use ADDL to insert)"
        raise InvalidCommandError(msg)
    if SEPARATOR in value:
        msg = (
            f"old={value!r} contains {SEPARATOR!r}, which would end REPW's old text early: "
            "pick a shorter old text, or rewrite the whole line with REPL"
        )
        raise InvalidCommandError(msg)


_span = attrs.field(default=None, eq=False, repr=False, kw_only=True)


@attrs.frozen
class AddLine:
    """``ADDL <line> >>><text>``: insert ``text`` so that it becomes line ``line``.

    ``line`` may be one past the last line, which appends.
    """

    line: int = attrs.field(validator=_check_line)
    text: str = attrs.field(validator=_check_text)
    span: Span | None = _span


@attrs.frozen
class ReplaceLine:
    """``REPL <line> >>><text>``: replace line ``line`` by ``text``."""

    line: int = attrs.field(validator=_check_line)
    text: str = attrs.field(validator=_check_text)
    span: Span | None = _span


@attrs.frozen
class ReplaceText:
    """``REPW <line> >>><old> >>><new>``: inside line ``line``, replace ``old`` by ``new``.

    ``old`` is non-empty and never contains ``" >>>"`` (the grammar's separator
    rule); ``new`` may be empty and may contain anything but a line break.
    """

    line: int = attrs.field(validator=_check_line)
    old: str = attrs.field(validator=_check_old)
    new: str = attrs.field(validator=_check_text)
    span: Span | None = _span


@attrs.frozen
class DeleteLine:
    """``DELL <line>``: delete line ``line``."""

    line: int = attrs.field(validator=_check_line)
    span: Span | None = _span


@attrs.frozen
class Exit:
    """``EXIT``: declare the code repaired and end the episode."""

    span: Span | None = _span


Command: TypeAlias = AddLine | ReplaceLine | ReplaceText | DeleteLine | Exit
"""One model turn."""


def _to_commands(value: Any) -> tuple[Command, ...]:
    return tuple(value)


def _check_commands(_: Any, __: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        msg = "Program(commands=()) is empty: a program holds at least one command"
        raise InvalidCommandError(msg)
    for command in value:
        if not isinstance(command, AddLine | ReplaceLine | ReplaceText | DeleteLine | Exit):
            msg = (
                f"{command!r} is not a command: "
                "use AddLine, ReplaceLine, ReplaceText, DeleteLine or Exit"
            )
            raise InvalidCommandError(msg)


@attrs.frozen
class Program:
    """A sequence of commands, in the order the model sent them.

    Attributes:
        commands: One or more commands (a tuple; any iterable is converted).
        span: Where the program sits in its source, if parsed.
    """

    commands: tuple[Command, ...] = attrs.field(converter=_to_commands, validator=_check_commands)
    span: Span | None = _span
