"""`toolthink.dsl.execute` on the real editor: applied edits and the model's mistakes."""

from __future__ import annotations

import pytest

from toolthink.dsl import (
    AddLine,
    Applied,
    Exit,
    Exited,
    Rejected,
    execute,
    parse,
    parse_command,
)
from toolthink.tool import CodeEditor

PROGRAM = "def add(a, b):\n    return a - b\n"

APPLIED = [
    ("ADDL 1 >>>import math", "import math\ndef add(a, b):\n    return a - b\n"),
    ("ADDL 3 >>>print(add(1, 2))", PROGRAM + "print(add(1, 2))\n"),
    ("ADDL 2 >>>", "def add(a, b):\n\n    return a - b\n"),
    ("REPL 2 >>>    return a + b", "def add(a, b):\n    return a + b\n"),
    ("REPL 1 >>>", "\n    return a - b\n"),
    ("REPW 2 >>>a - b >>>a + b", "def add(a, b):\n    return a + b\n"),
    ("DELL 1", "    return a - b\n"),
    ("DELL 2", "def add(a, b):\n"),
    # REPW replaces the first occurrence only.
    ("REPW 1 >>>a >>>x", "def xdd(a, b):\n    return a - b\n"),
    ("REPW 1 >>>a, >>>x,", "def add(x, b):\n    return a - b\n"),
    # A REPW whose result is empty leaves an empty line, never deletes it.
    ("REPW 2 >>>    return a - b >>>", "def add(a, b):\n\n"),
]


@pytest.mark.parametrize(("command", "expected"), APPLIED)
def test_applied_commands(command: str, expected: str) -> None:
    editor = CodeEditor(PROGRAM)
    outcome = execute(parse_command(command), editor)
    assert outcome.steps == (Applied(parse_command(command)),)
    assert outcome.ok
    assert outcome.message == ""
    assert editor.source == expected
    assert editor.history == (parse_command(command),)


REJECTED = [
    (PROGRAM, "DELL 3",
     "error in 'DELL 3': line 3 does not exist: the file has 2 lines; "
     "use a line number from 1 to 2"),
    (PROGRAM, "REPL 9 >>>x",
     "error in 'REPL 9 >>>x': line 9 does not exist: the file has 2 lines; "
     "use a line number from 1 to 2"),
    (PROGRAM, "ADDL 4 >>>x",
     "error in 'ADDL 4 >>>x': line 4 does not exist: the file has 2 lines; "
     "use a line number from 1 to 3 (3 appends)"),
    ("x = 1\n", "REPW 2 >>>x >>>y",
     "error in 'REPW 2 >>>x >>>y': line 2 does not exist: the file has 1 line; use line number 1"),
    ("", "DELL 1", "error in 'DELL 1': the file is empty: add its first line with ADDL 1"),
    ("", "ADDL 2 >>>x",
     "error in 'ADDL 2 >>>x': line 2 does not exist: the file has 0 lines; "
     "use line number 1 (1 appends)"),
    # REPW text not on the line: the message shows the line as it is.
    (PROGRAM, "REPW 2 >>>a + b >>>a - b",
     "error in 'REPW 2 >>>a + b >>>a - b': 'a + b' does not occur in line 2, "
     "which is: '    return a - b'"),
    ("def f():\n\treturn 1\n", "REPW 2 >>>    return >>>x",
     "error in 'REPW 2 >>>    return >>>x': '    return' does not occur in line 2, "
     "which is: '\\treturn 1'"),
]


@pytest.mark.parametrize(("source", "command", "message"), REJECTED)
def test_mistakes_are_values_and_leave_the_editor_unchanged(
    source: str, command: str, message: str
) -> None:
    editor = CodeEditor(source)
    before = editor.snapshot
    outcome = execute(parse_command(command), editor)
    assert not outcome.ok
    assert isinstance(outcome.steps[-1], Rejected)
    assert outcome.message == message
    assert editor.snapshot is before
    assert editor.history == ()


def test_command_after_exit_is_rejected() -> None:
    editor = CodeEditor(PROGRAM)
    assert execute(Exit(), editor).steps == (Exited(Exit()),)
    assert editor.exited
    before = editor.snapshot
    outcome = execute(parse_command("DELL 1"), editor)
    assert outcome.message == (
        "error in 'DELL 1': the episode already ended with EXIT; no command can follow it"
    )
    assert editor.snapshot is before
    assert editor.history == (Exit(),)
    assert execute(Exit(), editor).message.endswith("no command can follow it")


def test_a_program_stops_at_its_first_mistake() -> None:
    editor = CodeEditor(PROGRAM)
    program = parse("REPW 2 >>>- >>>+\nDELL 7\nADDL 1 >>>x\n")
    outcome = execute(program, editor)
    assert [type(s) for s in outcome.steps] == [Applied, Rejected]
    assert editor.source == "def add(a, b):\n    return a + b\n"
    assert editor.history == (program.commands[0],)


def test_a_program_can_exit() -> None:
    editor = CodeEditor(PROGRAM)
    outcome = execute(parse("REPW 2 >>>- >>>+\nEXIT\n"), editor)
    assert outcome.ok
    assert outcome.exited
    assert editor.exited


def test_execute_rejects_values_that_are_not_ir() -> None:
    with pytest.raises(TypeError, match="is not a command"):
        execute("DELL 1", CodeEditor(PROGRAM))  # type: ignore[arg-type]


def test_added_lines_in_a_crlf_file_get_crlf() -> None:
    editor = CodeEditor("a = 1\r\nb = 2\r\n")
    assert execute(AddLine(2, "c = 3"), editor).ok
    assert editor.source == "a = 1\r\nc = 3\r\nb = 2\r\n"
