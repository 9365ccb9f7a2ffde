"""Property-based fuzzing: grammar strings parse; any text parses or raises
DslSyntaxError and nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import program_text, turn_text
from toolthink.dsl import DslSyntaxError, parse, parse_command

# Fragments that sit near the grammar, so random text reaches deep parser states.
_near = st.lists(
    st.sampled_from(
        ["ADDL", "REPL", "REPW", "DELL", "EXIT", "addl", " ", "  ", "\t", ">>>", " >>>", ">",
         "0", "1", "42", "99999", "100000", "\n", "\r", "\r\n", "\x0c", "x", "é", "#", "'"]
    ),
    max_size=20,
).map("".join)


@given(program_text)
def test_every_grammar_string_parses(text: str) -> None:
    assert parse(text).commands


@given(turn_text)
def test_every_grammar_turn_parses_as_one_command(text: str) -> None:
    parse_command(text)


def _parse_or_syntax_error(text: str) -> None:
    for parse_fn in (parse, parse_command):
        error: DslSyntaxError | None = None
        try:
            parse_fn(text)
        except DslSyntaxError as e:
            error = e
        if error is not None:
            assert 1 <= error.line <= text.count("\n") + 1
            assert 1 <= error.column <= len(error.source_line) + 1
            assert str(error)


@given(st.text())
def test_arbitrary_text_parses_or_raises_syntax_error(text: str) -> None:
    _parse_or_syntax_error(text)


@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x2FFF)))
def test_control_characters_parse_or_raise_syntax_error(text: str) -> None:
    _parse_or_syntax_error(text)


@given(_near)
def test_near_grammar_text_parses_or_raises_syntax_error(text: str) -> None:
    _parse_or_syntax_error(text)


@given(program_text, st.integers(0, 200), st.sampled_from(["", " ", "\r", "\n", ">", "0", "x"]))
def test_mutated_programs_parse_or_raise_syntax_error(text: str, at: int, insert: str) -> None:
    at = at % (len(text) + 1)
    _parse_or_syntax_error(text[:at] + insert + text[at + 1 :])
