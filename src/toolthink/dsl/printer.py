"""IR to canonical text: `format_command` and `format_program`.

Canonical text is what the grammar's examples show: one space after the keyword,
``" >>>"`` before each payload, and each command of a program ending in ``\\n``.
For every IR value, ``parse(format_program(p)) == p``; for canonical text,
``format_program(parse(s)) == s``.
"""

from __future__ import annotations

from toolthink.dsl.ir import (
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    Exit,
    Program,
    ReplaceLine,
    ReplaceText,
)

__all__ = ["format_command", "format_program"]


def format_command(command: Command) -> str:
    """Print one command as canonical text, without a line break.

    Args:
        command: Any command IR value.

    Returns:
        The command's text, e.g. ``"REPW 3 >>>a - b >>>a + b"``.

    Raises:
        TypeError: ``command`` is not a command IR value.
    """
    match command:
        case AddLine(line, text):  # ADDL <n> >>><text>
            return f"ADDL {line}{SEPARATOR}{text}"
        case ReplaceLine(line, text):  # REPL <n> >>><text>
            return f"REPL {line}{SEPARATOR}{text}"
        case ReplaceText(line, old, new):  # REPW <n> >>><old> >>><new>
            return f"REPW {line}{SEPARATOR}{old}{SEPARATOR}{new}"
        case DeleteLine(line):  # DELL <n>
            return f"DELL {line}"
        case Exit():  # EXIT
            return "EXIT"
        case _:
            msg = (
                f"{command!r} is not a command: "
                "pass AddLine, ReplaceLine, ReplaceText, DeleteLine or Exit"
            )
            raise TypeError(msg)


def format_program(program: Program) -> str:
    """Print a program as canonical text: each command followed by ``\\n``.

    Args:
        program: A program IR value.

    Returns:
        The program's text.
    """
    return "".join(format_command(c) + "\n" for c in program.commands)
