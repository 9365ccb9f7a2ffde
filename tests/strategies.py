"""Hypothesis strategies shared by the test suite (STYLE.md)."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from toolthink.dsl import (
    MAX_LINE,
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    Exit,
    Program,
    ReplaceLine,
    ReplaceText,
    lark_grammar,
)

# Line text: anything but a line break. Spaces, tabs, ">" and ">>>" are drawn
# often, because they are what the separator rule has to get right.
_tricky = st.sampled_from([" ", "\t", ">", ">>", ">>>", " >>>", "#", "'", '"', "é", "→", "\x0c"])
line_text = st.lists(
    st.one_of(_tricky, st.text(st.characters(blacklist_characters="\r\n"), max_size=5)),
    max_size=8,
).map("".join)

old_text = line_text.filter(lambda s: s != "" and SEPARATOR not in s)
line_numbers = st.one_of(st.integers(1, 50), st.integers(1, MAX_LINE))

commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(AddLine, line_numbers, line_text),
    st.builds(ReplaceLine, line_numbers, line_text),
    st.builds(ReplaceText, line_numbers, old_text, line_text),
    st.builds(DeleteLine, line_numbers),
    st.just(Exit()),
)
programs = st.lists(commands, min_size=1, max_size=12).map(Program)

program_text = from_lark(lark_grammar(), start="start")
"""Strings of the grammar, drawn from the grammar itself."""

turn_text = from_lark(lark_grammar(), start="turn")
