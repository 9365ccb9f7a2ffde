"""From text pairs to commands: applying them rebuilds the target exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.data.traces import diff_commands, line_fix
from toolthink.dsl import ReplaceLine, ReplaceText, execute, format_command, parse_command
from toolthink.tool import CodeEditor


def apply(lines: list[str], commands: list[object]) -> list[str]:
    editor = CodeEditor("".join(line + "\n" for line in lines))
    for command in commands:
        # through the text form, as a model would send it
        outcome = execute(parse_command(format_command(command)), editor)  # type: ignore[arg-type]
        assert outcome.ok, outcome.message
    return editor.source.split("\n")[:-1] if editor.source else []


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("    return a - b", "    return a + b", ReplaceText(1, "-", "+")),
        ("x = x + x", "x = x - x", ReplaceText(1, "+", "-")),
        ("for i in range(n):", "for i in range(n + 1):", ReplaceText(1, "n):", "n + 1):")),
        ("abc", "xyz", ReplaceLine(1, "xyz")),
        ("x", "", ReplaceLine(1, "")),
    ],
)
def test_line_fix_prefers_a_short_repw(current: str, target: str, expected: object) -> None:
    assert line_fix(1, current, target) == expected


_line = st.text(st.sampled_from("ab >\t=+()x1"), max_size=12)


@given(st.lists(_line, max_size=8), st.lists(_line, max_size=8))
def test_diff_commands_rebuild_the_target(current: list[str], target: list[str]) -> None:
    if not current:
        current = ["pass"]
    if not target:
        target = ["pass"]
    assert apply(current, diff_commands(current, target)) == target


@given(_line, _line)
def test_line_fix_rebuilds_the_line(current: str, target: str) -> None:
    assert apply([current], [line_fix(1, current, target)]) == [target]
