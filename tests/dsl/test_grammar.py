"""The grammar file itself: loadable by lark (strict) and by llguidance."""

from __future__ import annotations

import itertools
import re
from importlib import resources
from pathlib import Path

import lark
import llguidance
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.dsl import grammar_text
from toolthink.dsl.grammar import Definition, GrammarFileError, grammar_items

REPO = Path(__file__).resolve().parents[2]


def test_packaged_grammar_is_the_repository_file() -> None:
    shipped = resources.files("toolthink.dsl").joinpath("toolthink.lark").read_text("utf-8")
    assert shipped == (REPO / "grammar" / "toolthink.lark").read_text("utf-8")
    assert grammar_text() == shipped


def test_lark_loads_it_strictly() -> None:
    parser = lark.Lark(grammar_text(), parser="lalr", strict=True, start=["start", "turn"])
    assert parser.parse("EXIT", start="start")


def test_llguidance_accepts_it() -> None:
    grammar = llguidance.LLMatcher.grammar_from_lark(grammar_text())
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    assert not is_error, messages
    assert messages == []


def test_llguidance_reports_a_broken_grammar() -> None:
    # The check above can fail: a lookahead is outside llguidance's subset.
    grammar = llguidance.LLMatcher.grammar_from_lark('start: /a(?=b)/ "b"\n')
    is_error, _ = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    assert is_error


@pytest.mark.parametrize(
    ("feature", "pattern"),
    [
        ("lookaround", r"\(\?<?[=!]"),
        ("lazy quantifier", r"[*+?}]\?"),
        ("template", r"\{[a-z_]+\}\s*:"),
        ("import", r"^%import"),
        ("terminal priority", r"^[A-Z_]+\.\d+\s*:"),
    ],
)
def test_grammar_stays_in_the_llguidance_subset(feature: str, pattern: str) -> None:
    code = "\n".join(
        line for line in grammar_text().splitlines() if not line.lstrip().startswith("//")
    )
    assert not re.search(pattern, code, flags=re.MULTILINE), feature


def test_one_terminal_per_keyword_and_separator(grammar_terminals: dict[str, str]) -> None:
    for keyword in ("ADDL", "REPL", "REPW", "DELL", "EXIT"):
        assert grammar_terminals[keyword] == keyword
    assert grammar_terminals["SEP"] == re.escape(" >>>")
    assert grammar_terminals["SP"] == re.escape(" ")
    assert grammar_terminals["NL"] == re.escape("\n")


def _old_then_separator(s: str) -> bool:
    """The separator rule, stated directly: a non-empty old text without ' >>>',
    then ' >>>'."""
    return s.endswith(" >>>") and len(s) > 4 and " >>>" not in s[:-4]


@given(st.text(alphabet="a >\t\r\n", max_size=14))
def test_old_sep_terminal_is_exactly_the_separator_rule(
    grammar_terminals: dict[str, str], s: str
) -> None:
    matched = re.fullmatch(grammar_terminals["OLD_SEP"], s) is not None
    assert matched == (_old_then_separator(s) and "\r" not in s and "\n" not in s)


def test_old_sep_terminal_exhaustively_on_short_strings(grammar_terminals: dict[str, str]) -> None:
    regex = re.compile(grammar_terminals["OLD_SEP"])
    for n in range(1, 10):
        for chars in itertools.product("a >", repeat=n):
            s = "".join(chars)
            assert (regex.fullmatch(s) is not None) == _old_then_separator(s), s


@pytest.mark.parametrize(
    ("number", "ok"),
    [("1", True), ("99999", True), ("10", True), ("0", False), ("01", False),
     ("100000", False), ("-1", False), ("", False)],
)
def test_line_number_terminal_is_bounded(
    grammar_terminals: dict[str, str], number: str, ok: bool
) -> None:
    assert (re.fullmatch(grammar_terminals["LINENO"], number) is not None) == ok


def test_the_one_reader_of_the_grammar_file_gives_back_every_line() -> None:
    # docs (dsl.reference) and the decoder's variants (rollout.grammars) both read it.
    items = grammar_items(grammar_text())
    lines = [i.text() if isinstance(i, Definition) else i for i in items]
    assert lines == grammar_text().splitlines()
    by_name = {i.name: i for i in items if isinstance(i, Definition)}
    assert by_name["command"].prefix == "?"
    assert by_name["turn"].comment == ('One model turn: a single command, optionally ending in '
                                       '"\\n".', "example: DELL 3")  # the // block above it
    with pytest.raises(GrammarFileError, match="continues no definition"):
        grammar_items("// a comment\n    | x\n")
