"""The matcher and lark agree on the language, on the embedded model's real tokenizer.

- Every string drawn from the grammar (``hypothesis.extra.lark.from_lark``) is
  accepted token by token in its canonical tokenization, the one training data
  holds.
- No valid string is unreachable because of lexeme boundaries: walking any
  tokenization the mask allows, some allowed token always continues the string.
- Strings that lark rejects are rejected by the matcher, and the other way round.
- With the current file, the bounded turn grammar accepts exactly the commands
  that `toolthink.dsl.execute` applies.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from toolthink.dsl import (
    MISTAKES,
    AddLine,
    DeleteLine,
    DslSyntaxError,
    Exit,
    Rejected,
    ReplaceLine,
    ReplaceText,
    execute,
    format_command,
    parse,
    parse_command,
)
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import program_grammar, turn_grammar

from .support import (
    ListEditor,
    allowed,
    encode,
    files,
    line_text,
    old_text,
    program_text,
    turn_text,
)

START_GRAMMARS = {"start": program_grammar(), "turn": turn_grammar()}


def lark_accepts(text: str, start: str) -> bool:
    try:
        (parse if start == "start" else parse_command)(text)
    except DslSyntaxError:
        return False
    return True


def canonical_walk(constraint: GrammarConstraint, grammar: str, ids: list[int]) -> str | None:
    """Feed ``ids`` one by one, checking each against the mask; None when accepted."""
    matcher = constraint.matcher(grammar)
    for position, token in enumerate(ids):
        if not allowed(matcher.compute_bitmask(), token):
            return f"token {position} ({token}) is masked"
        assert matcher.consume_token(token)
    return None if matcher.is_accepting() else "not accepting at the end"


@pytest.mark.parametrize("start", ["start", "turn"])
@given(data=st.data())
def test_grammar_strings_are_accepted_token_by_token(
    start: str, data: st.DataObject, constraint: GrammarConstraint, tokenizer
) -> None:
    text = data.draw(program_text if start == "start" else turn_text, label="text")
    assert lark_accepts(text, start)
    ids = encode(tokenizer, text)
    assert tokenizer.decode(ids) == text
    assert canonical_walk(constraint, START_GRAMMARS[start], ids) is None


@pytest.mark.parametrize("start", ["start", "turn"])
@given(data=st.data())
def test_no_string_is_unreachable_whatever_the_tokenization(
    start: str, data: st.DataObject, constraint: GrammarConstraint, token_bytes: dict[bytes, int]
) -> None:
    text = data.draw(program_text if start == "start" else turn_text, label="text")
    rest = text.encode()
    longest = max(map(len, token_bytes))
    matcher = constraint.matcher(START_GRAMMARS[start])
    while rest:
        mask = matcher.compute_bitmask()
        continuing = [token_bytes[rest[:k]] for k in range(1, min(longest, len(rest)) + 1)
                      if rest[:k] in token_bytes]
        choices = [t for t in continuing if allowed(mask, t)]
        assert choices, f"dead end before {rest!r} of {text!r}"
        token = data.draw(st.sampled_from(choices))
        assert matcher.consume_token(token)
        rest = rest[len(constraint.ll_tokenizer.decode_bytes([token])):]
    assert matcher.is_accepting()


# Single-character edits that break (or keep) the separator rule, keywords and numbers.
_edit_chars = st.sampled_from([" ", ">", "\n", "\r", "\t", "0", "1", "A", "x", "E", "é"])


@pytest.mark.parametrize("start", ["start", "turn"])
@given(data=st.data())
def test_matcher_and_lark_agree_on_edited_strings(
    start: str, data: st.DataObject, constraint: GrammarConstraint, tokenizer
) -> None:
    text = data.draw(program_text if start == "start" else turn_text, label="valid")
    at = data.draw(st.integers(0, len(text)), label="at")
    kind = data.draw(st.sampled_from(["insert", "delete", "replace"]), label="kind")
    char = data.draw(_edit_chars, label="char")
    if kind == "insert":
        edited = text[:at] + char + text[at:]
    elif kind == "delete":
        edited = text[:at] + text[at + 1:]
    else:
        edited = text[:at] + char + text[at + 1:]
    assume(edited)
    walk = canonical_walk(constraint, START_GRAMMARS[start], encode(tokenizer, edited))
    assert (walk is None) == lark_accepts(edited, start), repr(edited)


@pytest.mark.parametrize(
    ("example", "start"),
    [(example, m.start) for m in MISTAKES for example in m.examples],
)
def test_catalogued_mistakes_are_rejected(
    example: str, start: str, constraint: GrammarConstraint, tokenizer
) -> None:
    assert canonical_walk(constraint, START_GRAMMARS[start], encode(tokenizer, example)) is not None


def commands_for(n_lines: int) -> st.SearchStrategy:
    edges = sorted({1, max(n_lines, 1), n_lines + 1, n_lines + 2})  # where bounds go wrong
    numbers = st.one_of(st.sampled_from(edges), st.integers(1, n_lines + 2))
    return st.one_of(
        st.builds(AddLine, numbers, line_text),
        st.builds(ReplaceLine, numbers, line_text),
        st.builds(ReplaceText, numbers, old_text, line_text),
        st.builds(DeleteLine, numbers),
        st.just(Exit()),
    )


@given(data=st.data(), lines=files, restrict=st.booleans())
def test_bounded_turn_grammar_accepts_what_execute_applies(
    data: st.DataObject, lines: list[str], restrict: bool, constraint: GrammarConstraint, tokenizer
) -> None:
    command = data.draw(commands_for(len(lines)), label="command")
    if isinstance(command, ReplaceText) and lines and data.draw(st.booleans()):
        # often take REPW's old text from its line, so that it can apply
        line = lines[(command.line - 1) % len(lines)]
        start = data.draw(st.integers(0, len(line)))
        old = line[start:data.draw(st.integers(start, len(line)))]
        assume(old and " >>>" not in old)
        command = ReplaceText(command.line, old, command.new)
    text = format_command(command) + data.draw(st.sampled_from(["", "\n"]))
    grammar = turn_grammar(lines=lines) if restrict else turn_grammar(len(lines))
    step = execute(command, ListEditor(list(lines))).steps[0]
    applies = not isinstance(step, Rejected) or (
        not restrict and "does not occur in line" in step.reason
    )
    assert constraint.accepts(grammar, encode(tokenizer, text)) == applies, (text, lines)


@given(
    n_lines=st.integers(0, 120),
    keyword=st.sampled_from(["ADDL", "REPL", "REPW", "DELL"]),
    offset=st.integers(-2, 2),
    restrict=st.booleans(),
)
def test_line_bounds_at_the_edges(
    n_lines: int, keyword: str, offset: int, restrict: bool, *, constraint: GrammarConstraint,
    tokenizer,
) -> None:
    last = n_lines + 1 if keyword == "ADDL" else n_lines
    number = last + offset
    assume(number >= 1)
    payload = {"ADDL": " >>>x", "REPL": " >>>x", "REPW": " >>>x >>>y", "DELL": ""}[keyword]
    text = f"{keyword} {number}{payload}"
    grammar = turn_grammar(lines=["x"] * n_lines) if restrict else turn_grammar(n_lines)
    assert constraint.accepts(grammar, encode(tokenizer, text)) == (number <= last), text
