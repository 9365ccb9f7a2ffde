"""The catalog of typical mistakes labels each of its own examples."""

from __future__ import annotations

import pickle

import pytest

from toolthink.dsl import MISTAKES, DslSyntaxError, parse, parse_command

CASES = [(m.label, m.start, example) for m in MISTAKES for example in m.examples]


@pytest.mark.parametrize(("label", "start", "example"), CASES)
def test_each_example_gets_its_label(label: str, start: str, example: str) -> None:
    parse_fn = parse if start == "start" else parse_command
    with pytest.raises(DslSyntaxError) as info:
        parse_fn(example)
    assert info.value.label == label
    assert info.value.message == label


@pytest.mark.parametrize(
    ("label", "example"),
    [(label, example) for label, start, example in CASES
     if start == "start" and "\n" not in example.rstrip("\n") and example.count("\n") <= 1],
)
def test_one_line_mistakes_get_the_same_label_in_a_single_turn(label: str, example: str) -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse_command(example)
    assert info.value.label == label


WHOLE = "line numbers are whole numbers: write e.g. 3, not 3.0 or 3,5"
DELL_ONLY = "DELL takes only a line number: end the line right after it"


@pytest.mark.parametrize(("source", "label"), [
    ("DELL 1.0", WHOLE),
    ("DELL 3,5", WHOLE),
    ("REPL 1.5 >>>x", WHOLE),
    ("DELL 3\x0c", DELL_ONLY),  # form feed: whitespace, not a digit
    ("DELL 3\x0b", DELL_ONLY),  # vertical tab
    ("DELL 3\xa0", DELL_ONLY),  # no-break space
    ("DELL 3#", DELL_ONLY),
    ("REPL 3\x0c>>>x", "missing ' >>>': ADDL, REPL and REPW need a space and >>> after the "
                       "line number"),
])
def test_a_number_that_ends_badly_is_not_called_too_large(source: str, label: str) -> None:
    for parse_fn in (parse, parse_command):
        with pytest.raises(DslSyntaxError) as info:
            parse_fn(source)
        assert info.value.label == label
        assert "too large" not in str(info.value)


def test_the_catalog_covers_the_issue_list() -> None:
    labels = " ".join(m.label for m in MISTAKES)
    for needle in ("upper case", "missing space", "leading zeros", "missing ' >>>'",
                   "REPW needs ' >>>'", "EXIT takes nothing", "DELL takes only"):
        assert needle in labels


def test_str_shows_position_line_and_caret() -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse("DELL 1\nREPL  2 >>>x\n")
    text = str(info.value)
    assert text.splitlines() == [
        "Syntax error @ 2:6: too many spaces: put exactly one space between the keyword "
        "and the line number",
        "",
        "REPL  2 >>>x",
        "     ^",
        "expected: a line number (1 to 99999, no leading zeros)",
    ]


def test_caret_keeps_tabs_so_it_lines_up() -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse("ADDL 1 >>>\tx\r")
    assert info.value.context().splitlines()[1] == " " * 10 + "\t" + " ^"


def test_unlabelled_error_still_names_the_character() -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse("REPW 3 >>>a >>>b\r")
    assert info.value.label is not None or "unexpected" in info.value.message


def test_error_survives_pickling() -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse("dell 1")
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.line, clone.column, clone.label, clone.expected) == (
        info.value.line, info.value.column, info.value.label, info.value.expected,
    )
