"""`render`: the state the model reads. Golden files hold the reference renders."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from toolthink.dsl import DeleteLine, ReplaceLine, execute, parse_command
from toolthink.tool import CodeEditor, RenderConfig, render

Golden = Callable[[str, str], None]

BUGGY = (
    "def mean(xs):\n"
    '    """Return the mean of xs."""\n'
    "    total = 0\n"
    "    for x in xs:\n"
    "        total += x\n"
    "    return total / len(xs) + 1\n"
)


def _long(n: int) -> str:
    return "".join(f"x{i} = {i}\n" for i in range(1, n + 1))


def test_small_file_renders_whole(golden: Golden) -> None:
    editor = CodeEditor(BUGGY)
    golden("small.txt", render(editor, "FAILED: mean([1, 2, 3]) returned 3.0, expected 2.0"))


def test_syntax_error_comes_first_in_the_feedback(golden: Golden) -> None:
    editor = CodeEditor(BUGGY)
    execute(parse_command("REPL 4 >>>    for x in xs"), editor)
    golden("syntax_error.txt", render(editor, "tests not run: the code does not compile\n"))


def test_rejected_command_feedback(golden: Golden) -> None:
    editor = CodeEditor(BUGGY)
    outcome = execute(parse_command("REPW 6 >>>+ 2 >>>"), editor)
    golden("rejected.txt", render(editor, outcome.message))


def test_tabs_form_feeds_and_endings(golden: Golden) -> None:
    # The file's endings are not shown; tabs and form feeds are, verbatim.
    editor = CodeEditor("def f():\r\n\treturn 1\r\n\x0c\r\n# 12|not a line number\r")
    golden("whitespace.txt", render(editor))


def test_long_file_shows_a_window_around_the_last_edit(golden: Golden) -> None:
    editor = CodeEditor(_long(250))
    execute(ReplaceLine(120, "x120 = -120"), editor)
    text = render(editor)
    golden("long_window.txt", text)
    lines = text.splitlines()
    assert lines[0] == "(69 more lines above)"
    assert lines[1] == "70|x70 = 70"
    assert lines[100] == "169|x169 = 169"
    assert lines[101] == "(81 more lines below)"
    assert lines[102:] == ["***"]


@pytest.mark.parametrize(
    ("edit", "focus", "first", "last"),
    [
        (None, None, 1, 100),  # no edit yet: the top
        (3, None, 1, 100),
        (250, None, 151, 250),  # clamped to the end
        (120, 200, 150, 249),  # an explicit focus wins
        (None, 10_000, 151, 250),
        (None, -5, 1, 100),
    ],
)
def test_window_placement(edit: int | None, focus: int | None, first: int, last: int) -> None:
    editor = CodeEditor(_long(250))
    if edit is not None:
        execute(ReplaceLine(edit, "pass"), editor)
    numbered = [s for s in render(editor, focus=focus).splitlines() if s[:1].isdigit()]
    assert numbered[0].startswith(f"{first}|")
    assert numbered[-1].startswith(f"{last}|")


_WHOLE_SIX = "".join(f"{i}|x{i} = {i}\n" for i in range(1, 7)) + "***\n"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (RenderConfig(full_max_lines=5, window=3),
         "(1 more line above)\n2|x2 = 2\n3|x3 = 3\n4|x4 = 4\n(2 more lines below)\n***\n"),
        (RenderConfig(full_max_lines=6, window=3), _WHOLE_SIX),
        (RenderConfig(full_max_lines=1, window=10), _WHOLE_SIX),
        (RenderConfig(full_max_lines=1, window=1), "(2 more lines above)\n3|x3 = 3\n"
         "(3 more lines below)\n***\n"),
    ],
)
def test_window_is_configurable(config: RenderConfig, expected: str) -> None:
    editor = CodeEditor(_long(6))
    execute(ReplaceLine(3, "x3 = 3"), editor)
    assert render(editor, config=config) == expected


def test_window_after_deleting_the_last_line() -> None:
    editor = CodeEditor(_long(6))
    execute(DeleteLine(6), editor)
    text = render(editor, config=RenderConfig(full_max_lines=2, window=2))
    assert text == "(3 more lines above)\n4|x4 = 4\n5|x5 = 5\n***\n"


@pytest.mark.parametrize("value", [0, -1, 1.5, None])
def test_config_rejects_bad_sizes(value: object) -> None:
    # toolthink.validators.positive_int, the one check of a positive int in every config
    with pytest.raises(ValueError, match=r"window=.* must be an int >= 1"):
        RenderConfig(window=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"full_max_lines=.* must be an int >= 1"):
        RenderConfig(full_max_lines=value)  # type: ignore[arg-type]


def test_empty_file() -> None:
    assert render(CodeEditor("")) == "(empty file)\n***\n"
    assert render(CodeEditor(""), "ok") == "(empty file)\n***\nok\n"


def test_feedback_gets_exactly_one_final_newline() -> None:
    editor = CodeEditor("x = 1\n")
    assert render(editor, "a\nb") == render(editor, "a\nb\n") == "1|x = 1\n***\na\nb\n"


def test_snapshot_renders_like_its_editor() -> None:
    editor = CodeEditor(BUGGY)
    first = editor.snapshot
    execute(DeleteLine(2), editor)
    assert render(editor) == render(editor.snapshot)
    assert render(first) == render(CodeEditor(BUGGY))


def test_every_code_line_is_unambiguous() -> None:
    # Lines that look like render syntax stay distinguishable: a code line is
    # always <digits>|<text>, and only the separator is "***" alone.
    source = "***\n12|x\n(3 more lines above)\n7\n"
    text = render(CodeEditor(source))
    code, _, feedback = text.partition("\n***\n")
    assert [line.split("|", 1)[1] for line in code.split("\n")] == source.splitlines()
    assert feedback.startswith("SyntaxError")
