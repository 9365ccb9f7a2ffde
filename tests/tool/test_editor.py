"""`CodeEditor`: loading, snapshots, history, undo, validity and structure."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import attrs
import pytest

from toolthink import ToolthinkError
from toolthink.dsl import Editor
from toolthink.tool import (
    CodeEditor,
    EditorUsageError,
    Invalid,
    NothingToUndoError,
    Parsed,
    Snapshot,
    SourceDecodeError,
    SourceTypeError,
    Unavailable,
    Valid,
    decode_source,
)

PROGRAM = "def add(a, b):\n    return a - b\n"


def test_editor_satisfies_the_dsl_protocol() -> None:
    assert isinstance(CodeEditor(PROGRAM), Editor)


def test_new_editor_state() -> None:
    editor = CodeEditor(PROGRAM)
    assert editor.source == PROGRAM
    assert editor.line_count == 2
    assert editor.line(2) == "    return a - b"
    assert editor.history == ()
    assert editor.snapshots == (editor.original,)
    assert editor.snapshot is editor.original
    assert not editor.exited
    assert editor.original.last_edit is None
    assert editor.newline == "\n"
    assert editor.final_newline


@pytest.mark.parametrize("source", [b"x = 1\n", bytearray(b"x"), None, 1, ["x = 1\n"]])
def test_only_str_is_accepted(source: object) -> None:
    with pytest.raises(SourceTypeError, match="source must be a str") as info:
        CodeEditor(source)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ToolthinkError)
    if isinstance(source, bytes):
        assert "CodeEditor.from_bytes" in str(info.value)


def test_from_bytes_decodes_utf8() -> None:
    editor = CodeEditor.from_bytes("s = 'é→'\r\n".encode())
    assert editor.source == "s = 'é→'\r\n"


def test_from_bytes_drops_a_utf8_bom_as_cpython_does() -> None:
    editor = CodeEditor.from_bytes(b"\xef\xbb\xbfx = 1\n")
    assert editor.source == "x = 1\n"
    assert editor.validity == Valid()


def test_from_bytes_rejects_non_utf8_with_position() -> None:
    # Real input 4: a Latin-1 byte in a comment.
    data = b"def f():\n    return 1  # caf\xe9\n"
    with pytest.raises(SourceDecodeError) as info:
        CodeEditor.from_bytes(data)
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ToolthinkError)
    assert isinstance(error.__cause__, UnicodeDecodeError)
    assert (error.offset, error.line, error.column) == (28, 2, 20)
    assert str(error) == (
        "source is not valid UTF-8: byte(s) e9 at offset 28 (line 2, column 20): "
        "invalid continuation byte; re-encode the file as UTF-8, or decode it yourself "
        "(e.g. data.decode('latin-1')) and pass the str"
    )
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.line, again.column) == (str(error), 2, 20)


def test_decode_source_rejects_non_bytes() -> None:
    with pytest.raises(SourceTypeError, match="must be bytes, not str"):
        decode_source("x")  # type: ignore[arg-type]


def test_splice_records_history_and_snapshots() -> None:
    editor = CodeEditor(PROGRAM)
    first = editor.snapshot
    editor.splice(1, 2, ["    return a + b"], command="c1")
    editor.splice(2, 2, ["", "print(add(1, 2))"], command="c2")
    assert editor.source == "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
    assert editor.history == ("c1", "c2")
    assert len(editor.snapshots) == 3
    assert editor.snapshots[0] is first
    assert editor.original.text == PROGRAM
    assert editor.snapshots[1].last_edit == 2
    assert editor.snapshot.last_edit == 3


def test_snapshots_are_immutable() -> None:
    snapshot = CodeEditor(PROGRAM).snapshot
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        snapshot.text = "x"  # type: ignore[misc]
    assert isinstance(snapshot.raw_lines, tuple)


def test_last_edit_after_deleting_the_last_line_is_the_new_last_line() -> None:
    editor = CodeEditor("a\nb\nc\n")
    editor.splice(2, 3, [], command="DELL 3")
    assert editor.snapshot.last_edit == 2
    editor.splice(0, 2, [], command="delete all")
    assert editor.snapshot.last_edit is None


def test_undo_restores_the_previous_snapshot_exactly() -> None:
    editor = CodeEditor("a\r\nb")
    states = [editor.snapshot]
    for i, (start, stop, lines) in enumerate([(2, 2, ["c"]), (0, 1, [""]), (1, 3, [])]):
        editor.splice(start, stop, lines, command=i)
        states.append(editor.snapshot)
    editor.exit(command="EXIT")
    assert editor.exited
    assert editor.undo() == "EXIT"
    assert not editor.exited
    for i in (2, 1, 0):
        assert editor.undo() == i
        assert editor.snapshot is states[i]
        assert editor.history == tuple(range(i))
    assert editor.source == "a\r\nb"
    with pytest.raises(NothingToUndoError, match="nothing to undo") as info:
        editor.undo()
    assert isinstance(info.value, IndexError)


def test_exit_keeps_the_text_and_blocks_changes() -> None:
    editor = CodeEditor(PROGRAM)
    editor.exit(command="EXIT")
    assert editor.source == PROGRAM
    assert editor.history == ("EXIT",)
    with pytest.raises(EditorUsageError, match="exited"):
        editor.splice(0, 0, ["x"], command="ADDL")
    with pytest.raises(EditorUsageError, match="already exited"):
        editor.exit(command="EXIT")


@pytest.mark.parametrize(
    ("start", "stop", "lines", "match"),
    [
        (-1, 0, [], "out of range"),
        (0, 3, [], "out of range"),
        (2, 1, [], "out of range"),
        (True, 1, [], "out of range"),
        (0, 1, ["a\nb"], "not one line"),
        (0, 1, ["a\r"], "not one line"),
        (0, 1, [b"x"], "not one line"),
    ],
)
def test_splice_rejects_caller_bugs(start: int, stop: int, lines: list[str], match: str) -> None:
    editor = CodeEditor(PROGRAM)
    with pytest.raises(EditorUsageError, match=match):
        editor.splice(start, stop, lines, command=None)
    assert editor.source == PROGRAM
    assert editor.history == ()


@pytest.mark.parametrize("number", [0, 3, -1, 1.0])
def test_line_out_of_range_is_a_usage_error(number: int) -> None:
    with pytest.raises(EditorUsageError, match="does not exist: the text has 2 lines"):
        CodeEditor(PROGRAM).line(number)


def test_snapshot_lines_and_endings() -> None:
    snapshot = Snapshot.from_text("a\r\n\x0cb\rc")
    assert snapshot.lines == ("a", "\x0cb", "c")
    assert [snapshot.ending(n) for n in (1, 2, 3)] == ["\r\n", "\r", ""]


def test_validity_reports_cpython_errors_with_position() -> None:
    editor = CodeEditor("def f(x):\n    if x\n        return 1\n")
    assert editor.validity == Invalid("SyntaxError", "expected ':'", 2, 9)
    assert editor.validity.describe() == "SyntaxError at line 2, column 9: expected ':'"
    editor.splice(1, 2, ["    if x:"], command="fix")
    assert editor.validity == Valid()
    assert editor.validity.ok


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = (\n", Invalid("SyntaxError", "'(' was never closed", 1, 5)),
        ("if x:\n", Invalid("IndentationError",
                            "expected an indented block after 'if' statement on line 1", 1, 6)),
        ("def f():\n\treturn 1\n        return 2\n",
         Invalid("TabError", "inconsistent use of tabs and spaces in indentation", 3, 1)),
        ("return 1\n", Invalid("SyntaxError", "'return' outside function", 1, 1)),
        ("x = 1\ny = 'a\x00'\n",
         Invalid("SyntaxError", "source code string cannot contain null bytes", 2, 7)),
        ("x = 1\r\ny = '\ud800'\n", Invalid("UnicodeEncodeError", "surrogates not allowed", 2, 6)),
        ("\ufeffx = 1\n", Invalid("SyntaxError", "invalid non-printable character U+FEFF", 1, 1)),
    ],
)
def test_validity_table(source: str, expected: Invalid) -> None:
    assert CodeEditor(source).validity == expected


def test_validity_survives_deep_nesting() -> None:
    validity = CodeEditor("x = " + "+1" * 200_000 + "\n").validity
    assert isinstance(validity, Invalid)
    assert validity.kind in {"RecursionError", "MemoryError", "SyntaxError"}
    assert validity.describe()


def test_warnings_neither_invalidate_code_nor_escape() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped would raise here
        assert CodeEditor("x = 1 is 1\ny = '\\d'\n").validity == Valid()


def test_compile_does_not_inherit_future_flags() -> None:
    # toolthink's modules use "from __future__ import annotations"; under it this
    # is an error ("'yield expression' can not be used within an annotation").
    assert CodeEditor("def g():\n    x: (yield)\n").validity == Valid()


def test_structure_is_lazy_and_cached() -> None:
    editor = CodeEditor(PROGRAM)
    editor.splice(1, 2, ["    return a + b"], command="c")
    assert "structure" not in editor.snapshot._cache
    structure = editor.structure
    assert isinstance(structure, Parsed)
    assert structure.module.code == editor.source
    assert editor.structure is structure


def test_structure_is_unavailable_while_cpython_rejects_the_code() -> None:
    structure = CodeEditor("def f(:\n").structure
    assert isinstance(structure, Unavailable)
    assert structure.reason.startswith("CPython does not accept the code (SyntaxError at line 1")
    assert not structure.available


def test_rendering_helpers_have_useful_reprs() -> None:
    editor = CodeEditor(PROGRAM)
    assert repr(editor) == "<CodeEditor 2 lines, 0 commands>"
    assert "module" not in repr(editor.structure)


def test_libcst_stays_off_the_per_command_path() -> None:
    # In a fresh interpreter: load, apply, validate and render without LibCST;
    # asking for structure is what imports it.
    code = (
        "import sys\n"
        "from toolthink.dsl import execute, parse_command\n"
        "from toolthink.tool import CodeEditor, render\n"
        "e = CodeEditor('def f(x):\\n    return x\\n')\n"
        "execute(parse_command('REPW 2 >>>x >>>x + 1'), e)\n"
        "e.validity; render(e)\n"
        "print('libcst' in sys.modules)\n"
        "e.structure\n"
        "print('libcst' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
