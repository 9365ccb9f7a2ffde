"""`execute` against a minimal editor (the real one lives in toolthink.tool).

The list editor here implements the `Editor` protocol and nothing more, which
also shows that the language layer needs no more than the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from toolthink.dsl import (
    Applied,
    Editor,
    Exited,
    Rejected,
    execute,
    parse,
    parse_command,
)


class ListEditor:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.history: list[object] = []
        self._exited = False

    @property
    def line_count(self) -> int:
        return len(self.lines)

    @property
    def exited(self) -> bool:
        return self._exited

    def line(self, number: int) -> str:
        return self.lines[number - 1]

    def splice(self, start: int, stop: int, lines: Sequence[str], *, command: object) -> None:
        self.lines[start:stop] = lines
        self.history.append(command)

    def exit(self, *, command: object) -> None:
        self._exited = True
        self.history.append(command)


def test_list_editor_satisfies_the_protocol() -> None:
    assert isinstance(ListEditor("x"), Editor)


@pytest.mark.parametrize(
    ("command", "after"),
    [
        ("ADDL 1 >>>z", ["z", "a = 1", "b = 2"]),
        ("ADDL 3 >>>z", ["a = 1", "b = 2", "z"]),
        ("REPL 2 >>>  c", ["a = 1", "  c"]),
        ("REPW 1 >>>1 >>>10", ["a = 10", "b = 2"]),
        ("REPW 1 >>>a = 1 >>>", ["", "b = 2"]),
        ("DELL 1", ["b = 2"]),
    ],
)
def test_applied_commands_change_only_what_they_name(command: str, after: list[str]) -> None:
    editor = ListEditor("a = 1\nb = 2")
    outcome = execute(parse_command(command), editor)
    assert outcome.ok
    assert outcome.steps == (Applied(parse_command(command)),)
    assert editor.lines == after


def test_repw_replaces_the_first_occurrence_only() -> None:
    editor = ListEditor("x = x + x")
    execute(parse_command("REPW 1 >>>x >>>y"), editor)
    assert editor.lines == ["y = x + x"]


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("DELL 3", ["'DELL 3'", "line 3 does not exist", "2 lines", "1 to 2"]),
        ("REPL 9 >>>x", ["line 9 does not exist", "1 to 2"]),
        ("ADDL 4 >>>x", ["line 4 does not exist", "1 to 3", "3 appends"]),
        ("REPW 2 >>>c >>>d", ["'c' does not occur in line 2", "'b = 2'"]),
    ],
)
def test_model_mistakes_are_rejections_that_leave_the_text(
    command: str, fragments: list[str]
) -> None:
    editor = ListEditor("a = 1\nb = 2")
    outcome = execute(parse_command(command), editor)
    assert not outcome.ok
    (step,) = outcome.steps
    assert isinstance(step, Rejected)
    for fragment in fragments:
        assert fragment in outcome.message
    assert editor.lines == ["a = 1", "b = 2"]
    assert editor.history == []


def test_empty_file_asks_for_addl_1() -> None:
    editor = ListEditor("")
    editor.lines = []
    outcome = execute(parse_command("DELL 1"), editor)
    assert "ADDL 1" in outcome.message


def test_program_stops_at_the_first_rejection() -> None:
    editor = ListEditor("a\nb")
    outcome = execute(parse("DELL 1\nDELL 5\nDELL 1\n"), editor)
    assert [type(s) for s in outcome.steps] == [Applied, Rejected]
    assert editor.lines == ["b"]


def test_commands_after_exit_are_rejected() -> None:
    editor = ListEditor("a\nb")
    outcome = execute(parse("EXIT\nDELL 1\n"), editor)
    assert [type(s) for s in outcome.steps] == [Exited, Rejected]
    assert outcome.exited
    assert "already ended with EXIT" in outcome.message
    assert editor.lines == ["a", "b"]
    later = execute(parse_command("DELL 1"), editor)
    assert not later.ok


def test_execute_refuses_non_ir() -> None:
    with pytest.raises(TypeError, match="not a command"):
        execute("DELL 1", ListEditor("a"))  # type: ignore[arg-type]
