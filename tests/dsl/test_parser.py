"""Text to IR: tables of (source, IR) and (source, error position)."""

from __future__ import annotations

import pytest

from toolthink import ToolthinkError
from toolthink.dsl import (
    AddLine,
    DeleteLine,
    DslSyntaxError,
    Exit,
    Program,
    ReplaceLine,
    ReplaceText,
    Span,
    check,
    parse,
    parse_command,
)
from toolthink.dsl.errors import MissingRuleHandlerError
from toolthink.dsl.grammar import lark_grammar
from toolthink.dsl.parser import _Builder

COMMANDS = [
    ("ADDL 3 >>>    if n < 0:", AddLine(3, "    if n < 0:")),
    ("ADDL 1 >>>", AddLine(1, "")),
    ("ADDL 2 >>>\t\treturn x", AddLine(2, "\t\treturn x")),
    ("REPL 4 >>>        return -n", ReplaceLine(4, "        return -n")),
    ("REPL 99999 >>>x", ReplaceLine(99999, "x")),
    ("REPL 1 >>>   ", ReplaceLine(1, "   ")),
    ("REPL 7 >>>x = ' >>> '  # >>> kept", ReplaceLine(7, "x = ' >>> '  # >>> kept")),
    ("REPL 2 >>>\x0cx = 1", ReplaceLine(2, "\x0cx = 1")),
    ("DELL 2", DeleteLine(2)),
    ("DELL 10000", DeleteLine(10000)),
    ("EXIT", Exit()),
    ("REPW 5 >>>a - b >>>a + b", ReplaceText(5, "a - b", "a + b")),
]

# REPW's separator rule: the old text ends at the first " >>>".
REPW_CASES = [
    # spaces inside and around both texts
    ("REPW 1 >>>a b >>>c d", ReplaceText(1, "a b", "c d")),
    ("REPW 1 >>>a  >>>b", ReplaceText(1, "a ", "b")),
    ("REPW 1 >>>  >>>x", ReplaceText(1, " ", "x")),
    ("REPW 1 >>>x >>> ", ReplaceText(1, "x", " ")),
    ("REPW 1 >>>x >>>", ReplaceText(1, "x", "")),
    # ">" and ">>>" in the texts
    ("REPW 1 >>>a > b >>>a >= b", ReplaceText(1, "a > b", "a >= b")),
    ("REPW 1 >>>x >> 1 >>>x >> 2", ReplaceText(1, "x >> 1", "x >> 2")),
    ("REPW 1 >>>a > >>>b", ReplaceText(1, "a >", "b")),
    ("REPW 1 >>>a >> >>>b", ReplaceText(1, "a >>", "b")),
    ("REPW 1 >>>>>> f(1) >>>>>> f(2)", ReplaceText(1, ">>> f(1)", ">>> f(2)")),
    ("REPW 1 >>>a>>>b >>>c", ReplaceText(1, "a>>>b", "c")),
    ("REPW 1 >>>a >>>b >>>c", ReplaceText(1, "a", "b >>>c")),
    ("REPW 1 >>>a >>>>b", ReplaceText(1, "a", ">b")),
    # quotes, comments, tabs, non-ASCII
    ("REPW 1 >>>'a' >>>\"a\"", ReplaceText(1, "'a'", '"a"')),
    ("REPW 1 >>># TODO >>># done", ReplaceText(1, "# TODO", "# done")),
    ("REPW 1 >>>\tx >>>\t\ty", ReplaceText(1, "\tx", "\t\ty")),
    ("REPW 1 >>>x\t >>>y", ReplaceText(1, "x\t", "y")),
    ("REPW 1 >>>naïve → ok >>>größe ✓", ReplaceText(1, "naïve → ok", "größe ✓")),
    ("REPW 1 >>>\u00a0x >>>y", ReplaceText(1, "\u00a0x", "y")),
]


@pytest.mark.parametrize(("source", "expected"), COMMANDS + REPW_CASES)
def test_parse_command(source: str, expected: object) -> None:
    assert parse_command(source) == expected
    assert parse_command(source + "\n") == expected
    assert parse(source) == Program((expected,))  # type: ignore[arg-type]


def test_program_with_and_without_final_newline() -> None:
    expected = Program((ReplaceLine(2, "    return a + b"), DeleteLine(3), Exit()))
    text = "REPL 2 >>>    return a + b\nDELL 3\nEXIT"
    assert parse(text) == expected
    assert parse(text + "\n") == expected


def test_spans_locate_each_command() -> None:
    text = "DELL 3\nADDL 1 >>>x = 1\nEXIT\n"
    program = parse(text)
    spans = [c.span for c in program.commands]
    assert spans == [Span(0, 6, 1, 1), Span(7, 22, 2, 1), Span(23, 27, 3, 1)]
    assert [text[s.start : s.end] for s in spans if s] == ["DELL 3", "ADDL 1 >>>x = 1", "EXIT"]
    assert program.span == Span(0, len(text), 1, 1)


def test_span_is_not_part_of_equality() -> None:
    assert parse_command("DELL 3") == DeleteLine(3)
    assert parse_command("DELL 3").span is not None


def test_commands_after_exit_parse_and_check_reports_them() -> None:
    program = parse("EXIT\nDELL 1\nEXIT\n")
    problems = check(program)
    assert [p.index for p in problems] == [1, 2]
    assert "after EXIT" in problems[0].message
    assert problems[0].span == Span(5, 11, 2, 1)
    assert check(parse("DELL 1\nEXIT\n")) == ()


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("DELL3", 1, 5),
        ("DELL  3", 1, 6),
        ("dell 3", 1, 1),
        ("DELL 0", 1, 6),
        ("DELL 03", 1, 6),
        ("DELL 100000", 1, 11),
        ("ADDL 3 x", 1, 7),
        ("REPW 3 >>>a b", 1, 11),
        ("EXIT now", 1, 5),
        ("DELL 2 x", 1, 7),
        ("DELL 1\nREPL 2 x\n", 2, 7),
        ("DELL 1\n\nEXIT", 2, 1),
        ("", 1, 1),
        ("DELL 1\r\n", 1, 7),
        ("ADDL 2 >>>x\rEXIT", 1, 12),
        ("REPW 3 >>> >>>b", 1, 11),
    ],
)
def test_syntax_errors_point_at_the_fault(source: str, line: int, column: int) -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.expected


def test_parse_command_takes_exactly_one_command() -> None:
    with pytest.raises(DslSyntaxError, match="one command per turn"):
        parse_command("DELL 1\nEXIT")


@pytest.mark.parametrize("value", [b"DELL 1", None, 3, ["EXIT"]])
def test_non_text_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="str"):
        parse(value)  # type: ignore[arg-type]


def test_syntax_error_is_a_value_error_and_a_toolthink_error() -> None:
    with pytest.raises(ValueError, match="upper case") as info:
        parse("exit")
    assert isinstance(info.value, ToolthinkError)


def test_large_program_parses_without_recursion_limits() -> None:
    text = "DELL 1\n" * 50_000
    assert len(parse(text).commands) == 50_000


def test_every_grammar_rule_has_an_ir_handler() -> None:
    # lark's own rule list: a rule added to grammar/toolthink.lark without a _Builder
    # method would otherwise parse into a lark Tree instead of IR.
    rules = {r.origin.name for r in lark_grammar().rules}
    assert {"start", "turn", "addl", "dell", "exit"} <= rules
    inlined = {r.origin.name for r in lark_grammar().rules  # ?rule: a | b, and lark's own _rules
               if r.options.expand1 or str(r.origin.name).startswith("_")}
    missing = sorted(str(name) for name in rules - inlined
                     if not callable(getattr(_Builder, str(name), None)))
    assert not missing, f"grammar rules without a handler in dsl.parser._Builder: {missing}"


def test_a_rule_without_handler_is_a_named_error_not_a_tree() -> None:
    with pytest.raises(MissingRuleHandlerError, match="grammar rule 'dell' has no handler"):
        _Builder().__default__("dell", [], None)
