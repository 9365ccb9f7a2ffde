"""Properties of the editor under random command sequences (Hypothesis).

A list of line texts is the model: every applied command must change the
editor's lines as it changes the list, every rejected one must leave the
editor as it was, and the text must always read back (CPython's numbering) as
exactly the editor's lines.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tool.data import needs_data
from tests.tool.strategies import (
    applicable_commands_for,
    benchmark_programs,
    commands_for,
    python_programs,
    texts,
)
from toolthink.dsl import (
    AddLine,
    Command,
    DeleteLine,
    Exit,
    Rejected,
    ReplaceLine,
    ReplaceText,
    execute,
)
from toolthink.tool import CodeEditor, Invalid, Parsed, Unavailable, Valid, render
from toolthink.tool.lines import split_lines


def _expected_rejection(command: Command, model: list[str], exited: bool) -> bool:
    if exited:
        return True
    match command:
        case AddLine(line, _):
            return not 1 <= line <= len(model) + 1
        case ReplaceLine(line, _) | DeleteLine(line):
            return not 1 <= line <= len(model)
        case ReplaceText(line, old, _):
            return not 1 <= line <= len(model) or old not in model[line - 1]
    return False


def _apply(command: Command, model: list[str]) -> None:
    match command:
        case AddLine(line, text):
            model.insert(line - 1, text)
        case ReplaceLine(line, text):
            model[line - 1] = text
        case ReplaceText(line, old, new):
            model[line - 1] = model[line - 1].replace(old, new, 1)
        case DeleteLine(line):
            del model[line - 1]


def _check_consistent(editor: CodeEditor, model: list[str]) -> None:
    source = editor.source
    snapshot = editor.snapshot
    assert snapshot.lines == tuple(model)
    assert editor.line_count == len(model)
    assert "".join(snapshot.raw_lines) == source
    # The text reads back as exactly these lines (an oracle independent of split_lines).
    assert io.StringIO(source, newline="").readlines() == list(snapshot.raw_lines)
    if editor.final_newline:
        assert source == "" or source[-1] in "\r\n"
    elif model and model[-1]:
        assert source[-1] not in "\r\n"
    assert len(editor.snapshots) == len(editor.history) + 1
    assert isinstance(editor.validity, Valid | Invalid)


def _session(source: str, data: st.DataObject, *, steps: int = 12) -> CodeEditor:
    """Apply random commands, checking every step, then undo them all."""
    editor = CodeEditor(source)
    model = list(split_lines(source))
    model = [line.rstrip("\r\n") for line in model]
    states = [editor.snapshot]
    applied: list[Command] = []
    for _ in range(data.draw(st.integers(0, steps), label="steps")):
        command = data.draw(commands_for(editor), label="command")
        before = editor.snapshot
        rejected = _expected_rejection(command, model, editor.exited)
        outcome = execute(command, editor)
        assert isinstance(outcome.steps[-1], Rejected) == rejected
        if rejected:
            assert editor.snapshot is before
        else:
            _apply(command, model)
            applied.append(command)
            states.append(editor.snapshot)
            assert editor.exited == isinstance(command, Exit)
        assert editor.history == tuple(applied)
        _check_consistent(editor, model)
        assert render(editor).count("\n***\n") >= 1
    # Undo restores every previous snapshot exactly, down to the original.
    for state in reversed(states[:-1]):
        editor.undo()
        assert editor.snapshot is state
    assert editor.source == source
    assert editor.history == ()
    return editor


@given(source=texts(), data=st.data())
def test_random_commands_on_random_texts(source: str, data: st.DataObject) -> None:
    _session(source, data)


@needs_data
@given(data=st.data())
def test_random_commands_on_benchmark_programs(data: st.DataObject) -> None:
    assert benchmark_programs is not None
    _session(data.draw(benchmark_programs, label="program"), data)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles its own output
@given(source=python_programs, data=st.data())
def test_random_commands_on_generated_python(source: str, data: st.DataObject) -> None:
    editor = _session(source, data, steps=6)
    assert isinstance(editor.structure, Parsed | Unavailable)  # LibCST never escapes
    if isinstance(editor.validity, Valid) and isinstance(editor.structure, Parsed):
        assert editor.structure.module.code == source


def _inverse(command: Command, before: CodeEditor) -> Command:
    match command:
        case AddLine(line, _):
            return DeleteLine(line)
        case DeleteLine(line):
            return AddLine(line, before.line(line))
        case ReplaceLine(line, _) | ReplaceText(line, _, _):
            return ReplaceLine(line, before.line(line))
    raise AssertionError(command)


def _check_inverse(source: str, data: st.DataObject, *, exact: bool) -> None:
    editor = CodeEditor(source)
    command = data.draw(applicable_commands_for(editor), label="command")
    lines = editor.snapshot.lines
    inverse = _inverse(command, editor)
    assert execute(command, editor).ok
    assert execute(inverse, editor).ok
    assert editor.snapshot.lines == lines
    if exact:
        assert editor.source == source


@given(source=texts(uniform=True), data=st.data())
def test_command_then_inverse_restores_the_exact_text(source: str, data: st.DataObject) -> None:
    _check_inverse(source, data, exact=True)


@needs_data
@given(data=st.data())
def test_command_then_inverse_on_benchmark_programs(data: st.DataObject) -> None:
    assert benchmark_programs is not None
    _check_inverse(data.draw(benchmark_programs, label="program"), data, exact=True)


@given(source=texts(), data=st.data())
def test_command_then_inverse_with_mixed_endings_restores_the_lines(
    source: str, data: st.DataObject
) -> None:
    # Mixed endings: a deleted line comes back with the file's newline, which
    # may differ from its old ending (toolthink.tool.lines), so only the lines'
    # text is compared here; uniform files are compared byte for byte above.
    _check_inverse(source, data, exact=False)


@pytest.mark.parametrize(
    "source", ["a\r\nb\nc\r\n", "a\rb\n\n", "x\ry\n\nz"], ids=["crlf-lf", "cr-lf-empty", "fuse"]
)
def test_mixed_endings_stay_consistent_under_every_deletion(source: str) -> None:
    for n in range(1, len(split_lines(source)) + 1):
        editor = CodeEditor(source)
        model = list(editor.snapshot.lines)
        assert execute(DeleteLine(n), editor).ok
        del model[n - 1]
        _check_consistent(editor, model)
