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
UPPER = "keywords are upper case: write ADDL, REPL, REPW, DELL or EXIT"
UNKNOWN = "unknown command: the commands are ADDL, REPL, REPW, DELL and EXIT"
MISSING_SEP = "missing ' >>>': ADDL, REPL and REPW need a space and >>> after the line number"
REPW_SEP = ("REPW needs ' >>>' between the old and the new text: "
            "REPW <n> >>><old> >>><new>")  # fmt: skip
BOM = "a byte-order mark (U+FEFF){}: remove it (save the text as UTF-8 without a BOM)"
NUL = "a control character U+0000 (NULL){}: remove it"
FORM_FEED = "a control character U+000C (FORM FEED): remove it"
ZWSP = "an invisible formatting character U+200B (ZERO WIDTH SPACE){}: remove it"
NBSP = "a non-ASCII space U+00A0 (NO-BREAK SPACE){}: {}"
FULLWIDTH_3 = "a non-ASCII digit U+FF13 (FULLWIDTH DIGIT THREE){}: {}"
ASCII_DIGITS = "write line numbers with the ASCII digits 0-9"
PLAIN_SPACE = "write a plain space (U+0020) instead"
BEFORE = " before the keyword"

# (source, label): odd characters and numbers that end badly. The old labels
# these replace are in the comments.
ODD_SOURCES = [
    ("DELL 1.0", WHOLE),  # was "line number too large"
    ("DELL 3,5", WHOLE),
    ("REPL 1.5 >>>x", WHOLE),
    ("DELL 3#", DELL_ONLY),
    ("DELL 3\x0c", FORM_FEED),  # was "line number too large", then DELL_ONLY
    ("DELL 3\x0b", "a control character U+000B (LINE TABULATION): remove it"),
    ("REPL 3\x0c>>>x", FORM_FEED),  # was MISSING_SEP
    ("\ufeffEXIT", BOM.format(BEFORE)),  # was UPPER
    ("\ufeffDELL 3\n", BOM.format(BEFORE)),  # was UPPER
    ("DELL 3\n\ufeffEXIT", BOM.format(BEFORE)),  # was UPPER
    ("EXIT\ufeff", BOM.format("")),
    ("\x00", NUL.format(BEFORE)),  # was UPPER
    ("\x00EXIT", NUL.format(BEFORE)),  # was UPPER
    ("DELL \x003", NUL.format("")),  # was "missing line number"
    ("E\x00XIT", NUL.format("")),  # was UNKNOWN
    ("\x1b[2JEXIT", "a control character U+001B (ESCAPE) before the keyword: remove it"),
    ("\x7f", "a control character U+007F (DELETE) before the keyword: remove it"),
    ("\u200bEXIT", ZWSP.format(BEFORE)),  # was UPPER
    ("DELL \u200b3", ZWSP.format("")),  # was "missing line number"
    ("E\u200bXIT", ZWSP.format("")),  # was UNKNOWN
    ("REPL 3 \u200b>>>x", ZWSP.format("")),  # was MISSING_SEP
    ("\u202eEXIT", "an invisible formatting character U+202E (RIGHT-TO-LEFT OVERRIDE) "
                   "before the keyword: remove it"),  # was UPPER
    ("\xadDELL 3", "an invisible formatting character U+00AD (SOFT HYPHEN) before the "
                   "keyword: remove it"),  # was UPPER
    ("\xa0EXIT", NBSP.format(BEFORE, "remove it")),  # was "a command starts at the beginning"
    ("DELL\xa03", NBSP.format("", PLAIN_SPACE)),  # was "missing space"
    ("DELL \xa03", NBSP.format("", "remove it")),  # was "too many spaces"
    ("DELL 3\xa0", NBSP.format("", "remove it")),  # was DELL_ONLY
    ("REPL 3\xa0>>>x", NBSP.format("", PLAIN_SPACE)),  # was MISSING_SEP
    ("REPL 3 \xa0>>>x", NBSP.format("", PLAIN_SPACE)),  # was MISSING_SEP
    ("DELL\u20033", "a non-ASCII space U+2003 (EM SPACE): " + PLAIN_SPACE),
    ("DELL \uff13", FULLWIDTH_3.format("", ASCII_DIGITS)),  # was "missing line number"
    ("DELL 1\uff13", FULLWIDTH_3.format("", ASCII_DIGITS)),  # was DELL_ONLY
    ("REPL \u0663 >>>x", "a non-ASCII digit U+0663 (ARABIC-INDIC DIGIT THREE): " + ASCII_DIGITS),
    ("DELL \xb3", "a non-ASCII digit U+00B3 (SUPERSCRIPT THREE): " + ASCII_DIGITS),
    ("\uff13EXIT", FULLWIDTH_3.format(BEFORE, "remove it")),  # was UPPER
    ("EXIT\uff13", FULLWIDTH_3.format("", "remove it")),  # was "EXIT takes nothing after it"
    ("\uff24ELL 3", "a non-ASCII character U+FF24 (FULLWIDTH LATIN CAPITAL LETTER D): outside "
                    "the >>> text a command is plain ASCII (write 'D')"),  # was UNKNOWN
    ("\u0415XIT", "a non-ASCII character U+0415 (CYRILLIC CAPITAL LETTER IE): outside the >>> "
                  "text a command is plain ASCII"),  # was UNKNOWN
    # Tabs keep the catalog's labels; odd characters inside the >>> text are text.
    ("DELL\t3", "missing space: put exactly one space between the keyword and the line number"),
    ("\tEXIT", "a command starts at the beginning of the line: remove the spaces before the "
               "keyword"),
    ("E\tXIT", UNKNOWN),
    ("exit\u200b", UPPER),  # the keyword's case is the first mistake
    ("REPW 3 >>>a\u200b>>>b", REPW_SEP),
]


@pytest.mark.parametrize(("source", "label"), ODD_SOURCES)
def test_odd_characters_and_bad_number_ends_get_accurate_labels(source: str, label: str) -> None:
    for parse_fn in (parse, parse_command):
        with pytest.raises(DslSyntaxError) as info:
            parse_fn(source)
        assert info.value.label == label
        assert info.value.message == label
        assert "too large" not in str(info.value)


@pytest.mark.parametrize(("source", "column"), [
    ("\ufeffEXIT", 1), ("E\u200bXIT", 2), ("DELL 3\n\x00EXIT", 1), ("REPL 3 \u200b>>>x", 8),
])
def test_the_caret_points_at_the_odd_character(source: str, column: int) -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse(source)
    assert info.value.column == column


@pytest.mark.parametrize("text", ["\x00", "\ufeff", "\u200b", "\xa0", "\uff13", "\u0415"])
def test_odd_characters_inside_the_text_are_text(text: str) -> None:
    assert parse_command(f"REPL 3 >>>x{text}y").text == f"x{text}y"  # type: ignore[union-attr]


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
