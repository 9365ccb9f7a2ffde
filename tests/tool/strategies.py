"""Hypothesis strategies for the editor: sources and commands that fit them."""

from __future__ import annotations

import hypothesmith
from hypothesis import strategies as st

from tests.tool.data import BENCHMARK_PROGRAMS
from toolthink.dsl import (
    MAX_LINE,
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    Exit,
    ReplaceLine,
    ReplaceText,
)
from toolthink.tool import CodeEditor

# Characters that split lines for str.splitlines() but not for CPython, and
# others an editor might mishandle.
_tricky = st.sampled_from(
    ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\t", " ", "\\",
     "#", "'", '"', ">>>", " >>>", "é", "\x00"]
)
line_text = st.lists(
    st.one_of(_tricky, st.text(st.characters(blacklist_characters="\r\n"), max_size=6)),
    max_size=6,
).map("".join)
"""The text of one line: anything but ``\\r`` and ``\\n``."""

endings = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def texts(draw: st.DrawFn, *, uniform: bool = False) -> str:
    """Arbitrary texts: random lines, random endings, final newline or not."""
    lines = draw(st.lists(line_text, max_size=12))
    if uniform:
        ending = draw(endings)
        chosen = [ending] * len(lines)
    else:
        chosen = [draw(endings) for _ in lines]
    raw = [text + ending for text, ending in zip(lines, chosen, strict=True)]
    if raw and draw(st.booleans()):
        last = lines[-1] or "x"
        raw[-1] = last  # a final line without ending
    return "".join(raw)


python_programs = hypothesmith.from_grammar().filter(lambda s: s.count("\n") < 200)
"""Syntactically valid Python from the grammar (hypothesmith)."""

benchmark_programs = st.sampled_from(BENCHMARK_PROGRAMS) if BENCHMARK_PROGRAMS else None
"""The buggy programs of MBPP, HumanEvalFix and QuixBugs (None when the data is missing)."""


def _line_number(draw: st.DrawFn, high: int) -> int:
    """Mostly a valid line (1..high), sometimes just past it or anywhere."""
    if high >= 1 and draw(st.integers(0, 9)) > 0:
        return draw(st.integers(1, high))
    return draw(st.one_of(st.integers(1, high + 3), st.integers(1, MAX_LINE)))


@st.composite
def commands_for(draw: st.DrawFn, editor: CodeEditor, *, exits: bool = True) -> Command:
    """A command for ``editor``'s current text, mostly applicable, sometimes not."""
    count = editor.line_count
    kinds = ["ADDL", "REPL", "REPW", "DELL", *(["EXIT"] if exits else [])]
    kind = draw(st.sampled_from(kinds))
    if kind == "EXIT":
        return Exit()
    if kind == "ADDL":
        return AddLine(_line_number(draw, count + 1), draw(line_text))
    line = _line_number(draw, count)
    if kind == "REPL":
        return ReplaceLine(line, draw(line_text))
    if kind == "DELL":
        return DeleteLine(line)
    current = editor.line(line) if line <= count else ""
    if current and draw(st.booleans()):
        i = draw(st.integers(0, len(current) - 1))
        j = draw(st.integers(i + 1, len(current)))
        old = current[i:j]
    else:
        old = draw(line_text)
    if not old or SEPARATOR in old:
        old = "x"
    return ReplaceText(line, old, draw(line_text))


@st.composite
def applicable_commands_for(draw: st.DrawFn, editor: CodeEditor) -> Command:
    """A command ``execute`` applies to ``editor``'s current text (never EXIT)."""
    count = editor.line_count
    kind = draw(st.sampled_from(["ADDL", "REPL", "REPW", "DELL"])) if count else "ADDL"
    if kind == "ADDL":
        return AddLine(draw(st.integers(1, count + 1)), draw(line_text))
    line = draw(st.integers(1, count))
    current = editor.line(line)
    if kind == "DELL":
        return DeleteLine(line)
    if kind == "REPW" and current:
        i = draw(st.integers(0, len(current) - 1))
        j = draw(st.integers(i + 1, len(current)))
        if SEPARATOR not in current[i:j]:
            return ReplaceText(line, current[i:j], draw(line_text))
    return ReplaceLine(line, draw(line_text))
