"""CPython's line numbering and the line-ending policy of `toolthink.tool.lines`."""

from __future__ import annotations

import ast
import io

import pytest
from hypothesis import given

from tests.tool.strategies import texts
from toolthink.tool.lines import detect_newline, ending_of, position, splice, split_lines

_NOT_BREAKS = "a\x0cb\x0bc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\n"
SPLITS = [
    ("", ()),
    ("x", ("x",)),
    ("x\n", ("x\n",)),
    ("x\n\n", ("x\n", "\n")),
    ("a\r\nb\rc\nd", ("a\r\n", "b\r", "c\n", "d")),
    ("a\r\r\nb", ("a\r", "\r\n", "b")),
    ("a\n\rb", ("a\n", "\r", "b")),
    # Characters str.splitlines() splits on, CPython does not.
    (_NOT_BREAKS, (_NOT_BREAKS,)),
    ("\x0c\n", ("\x0c\n",)),
]


@pytest.mark.parametrize(("source", "expected"), SPLITS)
def test_split_lines_numbers_lines_as_cpython(source: str, expected: tuple[str, ...]) -> None:
    assert split_lines(source) == expected


@given(texts())
def test_split_lines_agrees_with_universal_newlines_and_joins_back(source: str) -> None:
    lines = split_lines(source)
    assert "".join(lines) == source
    # io with newline="" splits at \n, \r\n and \r only, and keeps the endings.
    assert list(lines) == io.StringIO(source, newline="").readlines()


def test_cpython_numbers_form_feed_and_cr_lines_as_split_lines() -> None:
    source = (
        "a = 1\rb = 2\r\n\x0c\nc = 3\x0c\n\x0cd = 4  # \x0b\x85\u2028\n\x0c\x0c\ne = 5 # \x1c\n"
    )
    tree = ast.parse(source)
    lines = split_lines(source)
    for node in tree.body:
        assert isinstance(node, ast.Assign)
        name = node.targets[0]
        assert isinstance(name, ast.Name)
        assert lines[node.lineno - 1].lstrip("\x0c").startswith(name.id + " =")
    assert [n.lineno for n in tree.body] == [1, 2, 4, 5, 7]


@pytest.mark.parametrize(
    ("raw", "ending"),
    [("x\n", "\n"), ("x\r\n", "\r\n"), ("x\r", "\r"), ("x", ""), ("\n", "\n"), ("x\x0c", "")],
)
def test_ending_of(raw: str, ending: str) -> None:
    assert ending_of(raw) == ending


@pytest.mark.parametrize(
    ("source", "newline"),
    [
        ("", "\n"),
        ("x", "\n"),
        ("a\r\nb\r\n", "\r\n"),
        ("a\rb", "\r"),
        ("a\nb\r\nc\r\n", "\r\n"),  # the majority
        ("a\r\nb\nc", "\r\n"),  # a tie goes to the first seen
        ("a\nb\r\nc", "\n"),
    ],
)
def test_detect_newline(source: str, newline: str) -> None:
    assert detect_newline(split_lines(source)) == newline


@pytest.mark.parametrize(
    ("source", "index", "expected"),
    [
        ("abc", 0, (1, 1)),
        ("abc", 2, (1, 3)),
        ("a\nbc", 3, (2, 2)),
        ("a\r\nb", 2, (1, 2)),  # the "\n" of "\r\n" belongs to line 1
        ("a\r\nb", 3, (2, 1)),
        ("a\rb\x0cc", 4, (2, 3)),
        ("\t\tx", 2, (1, 3)),
    ],
)
def test_position(source: str, index: int, expected: tuple[int, int]) -> None:
    assert position(source, index) == expected


# (source, (start, stop), new texts, final_newline, expected text); newline is "\n"
# unless the source says otherwise (detect_newline).
SPLICES = [
    # REPL keeps the line's own ending; ADDL gets the file's newline.
    ("a\r\nb\n", (0, 1), ["x"], True, "x\r\nb\n"),
    ("a\nb\n", (1, 1), ["x"], True, "a\nx\nb\n"),
    ("a\r\nb\r\n", (2, 2), ["x"], True, "a\r\nb\r\nx\r\n"),
    # A final line without ending: appending gives it the newline, and the new
    # final line goes without; deleting it takes the ending off the line before.
    ("a\nb", (2, 2), ["c"], False, "a\nb\nc"),
    ("a\nb", (1, 2), [], False, "a"),
    ("a\r\nb", (1, 2), [], False, "a"),
    ("a", (0, 1), [], False, ""),
    ("", (0, 0), ["a"], False, "a"),
    ("", (0, 0), ["a"], True, "a\n"),
    ("a\nb", (1, 2), ["c"], False, "a\nc"),
    ("a\nb", (0, 1), ["c"], False, "c\nb"),
    # An empty final line keeps an ending (else it would not be a line)...
    ("a\nb", (1, 2), [""], False, "a\n\n"),
    ("a\nb", (2, 2), [""], False, "a\nb\n\n"),
    # ...and drops it again when it gets text back.
    ("a\n\n", (1, 2), ["b"], False, "a\nb"),
    # A lone "\r" then an empty "\n" line would fuse into one "\r\n".
    ("a\rb\n", (1, 2), [""], True, "a\r\r\n"),
    ("x\ry\n\n", (1, 2), [], True, "x\r\r\n"),
]


@pytest.mark.parametrize(("source", "span", "new", "final", "expected"), SPLICES)
def test_splice_follows_the_ending_policy(
    source: str, span: tuple[int, int], new: list[str], final: bool, expected: str
) -> None:
    start, stop = span
    lines = split_lines(source)
    out = splice(lines, start, stop, new, newline=detect_newline(lines), final_newline=final)
    assert "".join(out) == expected
    assert split_lines(expected) == out  # the text reads back as the same lines
