"""IR to canonical text and back."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.strategies import commands, program_text, programs
from toolthink.dsl import (
    AddLine,
    Command,
    DeleteLine,
    Exit,
    InvalidCommandError,
    Program,
    ReplaceLine,
    ReplaceText,
    format_command,
    format_program,
    parse,
    parse_command,
)


@given(programs)
def test_parse_of_format_is_identity_on_ir(program: Program) -> None:
    assert parse(format_program(program)) == program


@given(commands)
def test_parse_command_of_format_command_is_identity(command: Command) -> None:
    assert parse_command(format_command(command)) == command


@given(program_text)
def test_format_of_parse_is_identity_on_canonical_text(text: str) -> None:
    canonical = text if text.endswith("\n") else text + "\n"
    assert format_program(parse(text)) == canonical


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (AddLine(3, "  x"), "ADDL 3 >>>  x"),
        (AddLine(1, ""), "ADDL 1 >>>"),
        (ReplaceLine(2, "y"), "REPL 2 >>>y"),
        (ReplaceText(4, "a >", ">b"), "REPW 4 >>>a > >>>>b"),
        (ReplaceText(4, "a", ""), "REPW 4 >>>a >>>"),
        (DeleteLine(9), "DELL 9"),
        (Exit(), "EXIT"),
    ],
)
def test_format_command_table(command: Command, text: str) -> None:
    assert format_command(command) == text


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: AddLine(0, "x"), "line=0"),
        (lambda: DeleteLine(100_000), "line=100000"),
        (lambda: DeleteLine(True), "line=True"),
        (lambda: ReplaceLine(1, "a\nb"), "line break"),
        (lambda: ReplaceLine(1, "a\rb"), "line break"),
        (lambda: ReplaceText(1, "", "x"), "empty"),
        (lambda: ReplaceText(1, "a >>>b", "x"), "' >>>'"),
        (lambda: Program(()), "empty"),
        (lambda: Program(["EXIT"]), "not a command"),
    ],
)
def test_ir_refuses_values_the_language_cannot_print(build: object, fragment: str) -> None:
    with pytest.raises(InvalidCommandError, match=fragment):
        build()  # type: ignore[operator]


def test_format_command_rejects_non_ir() -> None:
    with pytest.raises(TypeError, match="not a command"):
        format_command("EXIT")  # type: ignore[arg-type]
