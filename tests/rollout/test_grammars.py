"""The derived grammars: line-number regexes, bounds, REPW restriction, vLLM params."""

from __future__ import annotations

import re

import llguidance
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.dsl import MAX_LINE, grammar_text
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import (
    VLLM_ENGINE_KWARGS,
    GrammarDerivationError,
    _Grammar,
    line_number_regex,
    program_grammar,
    turn_grammar,
    turn_grammar_for,
    vllm_structured_outputs,
)

from .support import ListEditor, encode


@pytest.mark.parametrize(
    ("last", "regex"),
    [
        (1, "1"),
        (7, "[1-7]"),
        (10, "[1-9]|10"),
        (34, "[1-9]|[1-2][0-9]|3[0-4]"),
        (100, "[1-9][0-9]{0,1}|100"),
        (347, "[1-9][0-9]{0,1}|[1-2][0-9]{2}|3[0-3][0-9]|34[0-7]"),
        (
            MAX_LINE,
            "[1-9][0-9]{0,3}|[1-8][0-9]{4}|9[0-8][0-9]{3}|99[0-8][0-9]{2}|999[0-8][0-9]|9999[0-9]",
        ),
    ],
)
def test_line_number_regex_table(last: int, regex: str) -> None:
    assert line_number_regex(last) == regex


@given(last=st.integers(1, MAX_LINE), number=st.integers(0, MAX_LINE + 10))
def test_line_number_regex_matches_exactly_one_to_last(last: int, number: int) -> None:
    pattern = re.compile(line_number_regex(last))
    assert bool(pattern.fullmatch(str(number))) == (1 <= number <= last)
    assert not pattern.fullmatch("0" + str(number))  # no leading zeros


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_lines": -1}, "n_lines=-1 is not a line count"),
        ({"n_lines": MAX_LINE + 1}, "from 0 to 99999"),
        ({"n_lines": True}, "n_lines=True"),
        ({"n_lines": 2.0}, "pass an int"),
        ({"n_lines": 2, "lines": ["a", "b"]}, "not both"),
        ({"lines": "abc"}, "lines is a str"),
        ({"lines": ["ok", "two\nlines"]}, "line 2 ('two\\nlines') is not one line"),
        ({"lines": ["a\r"]}, "without line endings"),
    ],
)
def test_turn_grammar_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GrammarDerivationError, match=re.escape(message)):
        turn_grammar(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("last", [0, -3, MAX_LINE + 1])
def test_line_number_regex_rejects_bad_counts(last: int) -> None:
    with pytest.raises(GrammarDerivationError, match="not a line count"):
        line_number_regex(last)


GRAMMARS = {
    "program": program_grammar(),
    "turn": turn_grammar(),
    "turn, empty file": turn_grammar(0),
    "turn, 1 line": turn_grammar(1),
    "turn, 12 lines": turn_grammar(12),
    "turn, MAX_LINE lines": turn_grammar(MAX_LINE),
    "turn, restricted": turn_grammar(lines=["def f(a):", "", '    return a >>> "é{}\\\\"']),
    "turn, restricted, blank file": turn_grammar(lines=["", ""]),
}


@pytest.mark.parametrize("name", GRAMMARS)
def test_derived_grammars_are_valid_for_llguidance(
    name: str, constraint: GrammarConstraint
) -> None:
    error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
        llguidance.LLMatcher.grammar_from_lark(GRAMMARS[name]), constraint.ll_tokenizer
    )
    assert (error, messages) == (False, [])


@pytest.mark.parametrize(
    ("n_lines", "text", "accepted"),
    [
        (0, "ADDL 1 >>>x", True),
        (0, "ADDL 2 >>>x", False),
        (0, "REPL 1 >>>x", False),
        (0, "DELL 1", False),
        (0, "EXIT", True),
        (3, "ADDL 4 >>>", True),
        (3, "ADDL 5 >>>", False),
        (3, "REPL 3 >>>y", True),
        (3, "REPL 4 >>>y", False),
        (3, "REPW 3 >>>a >>>b", True),
        (3, "DELL 30", False),
        (3, "DELL 03", False),
        (MAX_LINE, "ADDL 99999 >>>x", True),  # n + 1 is capped at the grammar's largest number
        (MAX_LINE, "ADDL 100000 >>>x", False),
    ],
)
def test_line_bounds_table(
    n_lines: int, text: str, accepted: bool, constraint: GrammarConstraint, tokenizer
) -> None:
    assert constraint.accepts(turn_grammar(n_lines), encode(tokenizer, text)) == accepted


def test_turn_grammar_for_an_editor(constraint: GrammarConstraint, tokenizer) -> None:
    editor = ListEditor(["a = 1", "", "b = a - 1"])
    assert turn_grammar_for(editor) == turn_grammar(3)
    restricted = turn_grammar_for(editor, restrict_old_text=True)
    assert restricted == turn_grammar(lines=editor.lines)
    for text, accepted in [
        ("REPW 3 >>>a - 1 >>>a + 1", True),
        ("REPW 3 >>>a + 1 >>>a - 1", False),  # not on line 3
        ("REPW 2 >>>x >>>y", False),  # line 2 is blank
        ("REPW 1 >>>a = 1 >>>", True),
    ]:
        assert constraint.accepts(restricted, encode(tokenizer, text)) == accepted, text


def test_restriction_to_blank_files_drops_repw(constraint: GrammarConstraint, tokenizer) -> None:
    grammar = turn_grammar(lines=["", ""])
    assert not constraint.accepts(grammar, encode(tokenizer, "REPW 1 >>>x >>>y"))
    assert constraint.accepts(grammar, encode(tokenizer, "REPL 2 >>>x"))


def test_vllm_parameters_compile_to_the_same_grammar() -> None:
    # vLLM's guidance backend runs llguidance.grammar_from("grammar", text)
    # (vllm/v1/structured_output/backend_guidance.py); this package runs
    # grammar_from_lark(text). Equal serialised grammars give equal masks.
    for grammar in GRAMMARS.values():
        params = vllm_structured_outputs(grammar)
        assert params == {"grammar": grammar}
        assert llguidance.grammar_from("grammar", params["grammar"]) == (
            llguidance.LLMatcher.grammar_from_lark(grammar)
        )
    assert VLLM_ENGINE_KWARGS == {"structured_outputs_config": {"backend": "guidance"}}


def test_vllm_parameters_reject_the_raw_grammar_file() -> None:
    with pytest.raises(GrammarDerivationError, match="program_grammar"):
        vllm_structured_outputs(grammar_text())


def test_derivation_errors_name_the_rule() -> None:
    grammar = _Grammar(grammar_text())
    grammar.update("addl", body="ADDL SP NUMBER SEP TEXT?")  # if the file changed shape
    with pytest.raises(GrammarDerivationError, match="does not contain 'LINENO'"):
        grammar.replace_symbols("addl", ["LINENO"], "ADDL_LINENO")
    with pytest.raises(GrammarDerivationError, match="has no definition 'nonexistent'"):
        grammar.get("nonexistent")
    with pytest.raises(GrammarDerivationError, match=re.escape("lacks one of ['move']")):
        grammar.drop_alternatives("command", {"move"})


def test_alternatives_are_split_at_the_top_level_only() -> None:
    grammar = _Grammar('start: a | (b | c) | "|" | d\n')
    grammar.drop_alternatives("start", {"a", "d"})
    assert grammar.get("start").body == '(b | c) | "|"'


def test_variants_do_not_leak_into_each_other() -> None:
    bounded = turn_grammar(3)
    assert "LINENO: /[1-3]/" in bounded
    assert "ADDL_LINENO" not in turn_grammar()
    assert "start: turn" not in program_grammar()
    assert turn_grammar(3) == bounded


def test_multiline_alternatives_are_joined() -> None:
    grammar = _Grammar('start: a\n    | b\n// note\nA: "a"\n')
    assert grammar.get("start").body == "a | b"
    assert grammar.text() == '%llguidance {}\nstart: a | b\n// note\nA: "a"\n'
