"""Property-based fuzzing: grammar strings parse; any text parses or raises
DslSyntaxError and nothing else; a parse says what the text says.

What the text says: each command's span covers exactly its canonical text
(`format_command`), and nothing but line ends lies between or after them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import program_text, turn_text
from toolthink.dsl import Command, DslSyntaxError, Program, format_command, parse, parse_command

# Fragments that sit near the grammar, so random text reaches deep parser states.
_near = st.lists(
    st.sampled_from(
        ["ADDL", "REPL", "REPW", "DELL", "EXIT", "addl", " ", "  ", "\t", ">>>", " >>>", ">",
         "0", "1", "42", "99999", "100000", "\n", "\r", "\r\n", "\x0c", "x", "é", "#", "'"]
    ),
    max_size=20,
).map("".join)


def _assert_parse_is_the_text(text: str, commands: tuple[Command, ...]) -> None:
    """Each command's span holds its canonical text; only line ends lie around them."""
    assert commands
    position = 0
    for command in commands:
        assert command.span is not None
        assert text[position:command.span.start].strip("\r\n") == ""
        assert text[command.span.start:command.span.end] == format_command(command)
        position = command.span.end
    assert text[position:].strip("\r\n") == ""


@given(program_text)
def test_every_grammar_string_parses(text: str) -> None:
    _assert_parse_is_the_text(text, parse(text).commands)


@given(turn_text)
def test_every_grammar_turn_parses_as_one_command(text: str) -> None:
    _assert_parse_is_the_text(text, (parse_command(text),))


def _parse_or_syntax_error(text: str) -> None:
    for parse_fn in (parse, parse_command):
        error: DslSyntaxError | None = None
        try:
            result = parse_fn(text)
        except DslSyntaxError as e:
            error = e
        if error is not None:
            assert 1 <= error.line <= text.count("\n") + 1
            assert 1 <= error.column <= len(error.source_line) + 1
            assert str(error)
        else:  # it parsed: into what the text says
            commands = result.commands if isinstance(result, Program) else (result,)
            _assert_parse_is_the_text(text, commands)


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
