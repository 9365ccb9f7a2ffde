"""The six real inputs of issue 3: each is a kind of input the editor must handle."""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from tests.tool.data import MBPP, needs_data
from toolthink.dsl import DeleteLine, ReplaceLine, ReplaceText, execute, parse_command
from toolthink.tool import (
    CodeEditor,
    Invalid,
    Parsed,
    SourceDecodeError,
    Unavailable,
    Valid,
    render,
)
from toolthink.tool.structure import parse_structure

# -- 1. Indentation CPython accepts and LibCST's tokenizer rejects ---------------

TABS_AND_SPACES = [
    # A with-block indented by space+tab+space inside a tab-indented function.
    "def f(path):\n\twith open(path) as fh:\n \t data = fh.read()\n\treturn data\n",
    # The MBPP/51 pattern: tab+3 spaces under a 2-space if, 5 spaces under else.
    "def f(x):\n  if x:\n\t   return 1\n  else:\n     return 2\n",
]
MIXED_MBPP = (51, 159, 264, 327, 521)


def _check_loads_and_edits_without_structure(source: str) -> None:
    editor = CodeEditor(source)
    assert editor.validity == Valid()
    structure = editor.structure
    assert isinstance(structure, Unavailable)
    assert structure.reason.startswith("LibCST cannot parse this code (ParserSyntaxError:")
    assert "no matching outer block for dedent" in structure.reason
    # Editing works, and touches only the line asked for.
    line = next(n for n in range(1, editor.line_count + 1) if "\t" in editor.line(n))
    before = editor.line(line)
    outcome = execute(ReplaceLine(line, before + "  # edited"), editor)
    assert outcome.ok
    assert editor.source == source.replace(before, before + "  # edited", 1)
    assert editor.validity == Valid()
    assert f"{line}|{before}  # edited\n" in render(editor)


@pytest.mark.parametrize("source", TABS_AND_SPACES)
def test_tab_space_indentation_loads_and_edits(source: str) -> None:
    with pytest.raises(cst.ParserSyntaxError):
        cst.parse_module(source)  # the disagreement is real
    _check_loads_and_edits_without_structure(source)


@needs_data
@pytest.mark.parametrize("task", MIXED_MBPP)
def test_mbpp_tab_space_programs_load_and_edit(task: int) -> None:
    _check_loads_and_edits_without_structure(MBPP[task])


@needs_data
def test_structure_is_unavailable_for_exactly_the_known_mbpp_programs() -> None:
    unavailable = {
        task: structure.reason
        for task, source in MBPP.items()
        if isinstance(structure := parse_structure(source), Unavailable)
    }
    # 64 and 966 are not valid Python (shared/data/README.md); CPython says so.
    assert set(unavailable) == {*MIXED_MBPP, 64, 966}
    assert unavailable[64].startswith("CPython does not accept the code (IndentationError")
    assert unavailable[966].startswith("CPython does not accept the code (IndentationError")


# -- 2. A line holding only a backslash continuation ----------------------------

BACKSLASH = "x = 1\n\\\ny = 2\n"


def test_backslash_line_is_kept_and_structure_refused() -> None:
    assert cst.parse_module(BACKSLASH).code == "x = 1\ny = 2\n"  # LibCST drops the line
    editor = CodeEditor(BACKSLASH)
    assert editor.validity == Valid()
    assert editor.line_count == 3
    structure = editor.structure
    assert isinstance(structure, Unavailable)
    assert structure.reason == (
        "LibCST's tree does not print back to the same text (it differs from line 2 on), "
        "so its structure would not be faithful"
    )
    assert execute(parse_command("REPW 3 >>>2 >>>3"), editor).ok
    assert editor.source == "x = 1\n\\\ny = 3\n"
    assert execute(parse_command("REPL 1 >>>x = 0"), editor).ok
    assert editor.source == "x = 0\n\\\ny = 3\n"
    assert render(editor) == "1|x = 0\n2|\\\n3|y = 3\n***\n"


# -- 3. LibCST raising something other than a syntax error -----------------------

ELSE_PAREN = "f = a if b else(lambda: 1)\n"


def test_libcst_type_error_becomes_unavailable() -> None:
    with pytest.raises(TypeError):
        cst.parse_module(ELSE_PAREN)  # the dependency's own failure
    editor = CodeEditor(ELSE_PAREN)
    assert editor.validity == Valid()
    structure = editor.structure
    assert isinstance(structure, Unavailable)
    assert structure.reason.startswith("LibCST cannot parse this code (TypeError: ")
    assert execute(parse_command("REPW 1 >>>else( >>>else ("), editor).ok
    assert isinstance(editor.structure, Parsed)


class FakePanic(BaseException):
    """Stands for pyo3's PanicException, which derives from BaseException."""


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), RecursionError("deep"), MemoryError(), FakePanic("panicked")]
)
def test_any_libcst_failure_becomes_unavailable(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def fail(source: str) -> cst.Module:
        raise error

    monkeypatch.setattr(cst, "parse_module", fail)
    structure = parse_structure("x = 1\n")
    assert isinstance(structure, Unavailable)
    assert structure.reason.startswith(f"LibCST cannot parse this code ({type(error).__name__}")


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupts_still_propagate(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def fail(source: str) -> cst.Module:
        raise error

    monkeypatch.setattr(cst, "parse_module", fail)
    with pytest.raises(type(error)):
        parse_structure("x = 1\n")


# -- 4. Bytes with a non-UTF-8 byte in a comment ---------------------------------


def test_non_utf8_comment_is_a_clear_error() -> None:
    data = b"# caf\xe9 au lait\nx = 1\n"
    with pytest.raises(SourceDecodeError, match=r"not valid UTF-8: byte\(s\) e9 at offset 5 "
                       r"\(line 1, column 6\)") as info:
        CodeEditor.from_bytes(data)
    assert isinstance(info.value, ValueError)
    # The fix the message suggests works.
    assert CodeEditor(data.decode("latin-1")).line(1) == "# café au lait"


# -- 5. Syntax only a newer Python accepts ----------------------------------------

NESTED_FSTRING = 'd = {"a": 1}\nx = f"{d["a"]}"\n'


def test_newer_fstring_syntax_is_invalid_on_this_python() -> None:
    assert cst.parse_module(NESTED_FSTRING).code == NESTED_FSTRING  # LibCST accepts it
    editor = CodeEditor(NESTED_FSTRING)
    validity = editor.validity
    assert isinstance(validity, Invalid)
    assert (validity.kind, validity.line) == ("SyntaxError", 2)
    assert "f-string" in validity.message
    structure = editor.structure
    assert isinstance(structure, Unavailable)
    assert structure.reason.startswith("CPython does not accept the code (SyntaxError at line 2")
    assert render(editor).endswith(f"***\n{validity.describe()}\n")
    # The text is never touched by LibCST, and a fix makes it valid.
    assert editor.source == NESTED_FSTRING
    assert execute(ReplaceText(2, 'd["a"]', "d['a']"), editor).ok
    assert editor.validity == Valid()


# -- 6. Form feeds and \r, \r\n endings ---------------------------------------------

FORM_FEEDS = "v1 = 1\r\x0c\nv3 = 3\x0c\r\n\x0cv4 = 4\rv5 = 5  # \x0b\x1c\u2028\n\x0c\x0c\nv7 = 7"


def _names_by_line(source: str) -> dict[int, str]:
    tree = ast.parse(source)
    names: dict[int, str] = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign)
        target = node.targets[0]
        assert isinstance(target, ast.Name)
        names[node.lineno] = target.id
    return names


def test_dell_removes_the_line_cpython_calls_n() -> None:
    names = _names_by_line(FORM_FEEDS)
    assert names == {1: "v1", 3: "v3", 4: "v4", 5: "v5", 7: "v7"}
    assert len(FORM_FEEDS.splitlines()) != CodeEditor(FORM_FEEDS).line_count  # a real trap
    for n in range(1, 8):
        editor = CodeEditor(FORM_FEEDS)
        assert execute(DeleteLine(n), editor).ok
        # The statement CPython put on line n is gone; those below moved up by one.
        expected = {old - (old > n): name for old, name in names.items() if old != n}
        assert _names_by_line(editor.source) == expected
        assert editor.line_count == 6


def test_endings_are_kept_byte_for_byte() -> None:
    editor = CodeEditor(FORM_FEEDS)
    assert execute(ReplaceText(4, "= 4", "= 40"), editor).ok
    assert editor.source == FORM_FEEDS.replace("v4 = 4", "v4 = 40")
    assert execute(DeleteLine(2), editor).ok
    assert editor.source == FORM_FEEDS.replace("v4 = 4", "v4 = 40").replace("\x0c\n", "", 1)
