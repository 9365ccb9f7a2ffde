"""Text to IR: `parse` (a program) and `parse_command` (one model turn).

lark's LALR parser, with a contextual lexer, reads ``grammar/toolthink.lark`` and
builds IR nodes directly through an inline transformer (no parse tree). Every
lark error becomes a `DslSyntaxError` labelled from `toolthink.dsl.mistakes`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, cast

import lark
from lark.exceptions import LarkError, UnexpectedInput

from toolthink.dsl.errors import DslSyntaxError, MissingRuleHandlerError
from toolthink.dsl.grammar import TERMINAL_NAMES, build_lark
from toolthink.dsl.ir import (
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    Exit,
    Program,
    ReplaceLine,
    ReplaceText,
    Span,
)
from toolthink.dsl.mistakes import MISTAKES, is_odd_character, odd_character_label

__all__ = ["parse", "parse_command"]


def parse(text: str) -> Program:
    """Parse a program: one or more commands, each ending in ``\\n``.

    The last command may end at the end of the input. Commands after ``EXIT``
    parse; `toolthink.dsl.check` reports them.

    Args:
        text: The program's source text.

    Returns:
        The program's IR, with a `Span` on every node.

    Raises:
        DslSyntaxError: ``text`` is not a program of the language; the error
            carries the line, column, expected tokens and a catalog label.
        TypeError: ``text`` is not a str.
    """
    result = _parse(text, "start")
    assert isinstance(result, Program)
    return result


def parse_command(text: str) -> Command:
    """Parse one model turn: a single command, optionally ending in ``\\n``.

    Args:
        text: The turn's text, e.g. ``"REPL 3 >>>    return x"``.

    Returns:
        The command's IR, with its `Span`.

    Raises:
        DslSyntaxError: ``text`` is not exactly one command.
        TypeError: ``text`` is not a str.
    """
    result = _parse(text, "turn")
    assert not isinstance(result, Program)
    return result


def _parse(text: str, start: str) -> Program | Command:
    if not isinstance(text, str):
        msg = f"expected the command text as a str, got {type(text).__name__}: decode bytes first"
        raise TypeError(msg)
    try:
        result = cast("Program | Command", _lark().parse(text, start=start))
    except UnexpectedInput as e:
        raise _syntax_error(text, start, e) from None
    except LarkError as e:  # pragma: no cover - lark raises UnexpectedInput for bad text
        msg = f"cannot parse the text: {e}"
        raise DslSyntaxError(msg, line=1, column=1, source_line=_line_at(text, 0)) from e
    return result


def _span(first: lark.Token, last: lark.Token) -> Span:
    # lark sets every position on tokens it lexed; the defaults satisfy the types.
    return Span(start=first.start_pos or 0, end=last.end_pos or 0, line=first.line or 1,
                column=first.column or 1)


class _Builder(lark.Transformer[lark.Token, Any]):
    """Builds IR from the grammar's rules, one method per rule (no parse tree).

    A rule without a method would come out of lark as a parse `lark.Tree`,
    silently; `__default__` makes it a `MissingRuleHandlerError` instead, and
    ``tests/dsl/test_parser.py`` checks every rule of the grammar has a method.
    """

    def __default__(self, data: Any, children: list[Any], meta: Any) -> Any:
        if str(data).startswith("_"):  # lark's own rules (``(command NL)*``), inlined into ours
            return lark.Tree(data, children, meta)
        raise MissingRuleHandlerError(str(data))

    def start(self, children: list[Any]) -> Program:
        # start: (command NL)* command NL?
        commands = tuple(c for c in children if not isinstance(c, lark.Token))
        first, last = commands[0].span, commands[-1].span
        assert first is not None
        assert last is not None
        final = children[-1]
        end = (final.end_pos or 0) if isinstance(final, lark.Token) else last.end
        span = Span(start=first.start, end=end, line=first.line, column=first.column)
        return Program(commands, span=span)

    def turn(self, children: list[Any]) -> Command:
        # turn: command NL?
        command: Command = children[0]
        return command

    def addl(self, children: list[lark.Token]) -> AddLine:
        # ADDL <n> >>><text>
        keyword, _, number, sep, *text = children
        span = _span(keyword, text[0] if text else sep)
        return AddLine(int(number), str(text[0]) if text else "", span=span)

    def repl(self, children: list[lark.Token]) -> ReplaceLine:
        # REPL <n> >>><text>
        keyword, _, number, sep, *text = children
        span = _span(keyword, text[0] if text else sep)
        return ReplaceLine(int(number), str(text[0]) if text else "", span=span)

    def repw(self, children: list[lark.Token]) -> ReplaceText:
        # REPW <n> >>><old> >>><new>; OLD_SEP is "<old> >>>"
        keyword, _, number, _, old_sep, *new = children
        old = str(old_sep)[: -len(SEPARATOR)]
        span = _span(keyword, new[0] if new else old_sep)
        return ReplaceText(int(number), old, str(new[0]) if new else "", span=span)

    def dell(self, children: list[lark.Token]) -> DeleteLine:
        # DELL <n>
        keyword, _, number = children
        return DeleteLine(int(number), span=_span(keyword, number))

    def exit(self, children: list[lark.Token]) -> Exit:
        # EXIT
        (keyword,) = children
        return Exit(span=_span(keyword, keyword))


@functools.cache
def _lark() -> lark.Lark:
    # Same options as toolthink.dsl.grammar.lark_grammar, plus the inline builder.
    return build_lark(_Builder())


# ---------------------------------------------------------------------------
# Error labelling


class _Signature(NamedTuple):
    """What identifies a kind of syntax error.

    Which start symbol, what the parser accepted there, after which token, and
    what kind of character it met.
    """

    start: str
    accepts: frozenset[str]
    previous: str | None
    char: str


_KEYWORDS = frozenset({"ADDL", "REPL", "REPW", "DELL", "EXIT"})


def _char_class(rest: str) -> str:
    """Name the kind of text found where the parser failed."""
    if not rest:
        return "end"
    if rest.startswith(SEPARATOR):
        return "separator"
    if rest[:4].upper() in _KEYWORDS and rest[:4] not in _KEYWORDS:
        return "keyword in the wrong case"
    ch = rest[0]
    if ch.isspace() and ch not in "\n\r":  # tab, form feed, no-break space ...
        return "space"
    if ch == "0":
        return "zero"
    if ch in ".,":
        return "decimal point"
    simple = {"\n": "newline", "\r": "cr", ">": "gt"}
    if ch in simple:
        return simple[ch]
    if ch in "123456789":
        return "digit"
    if ch.isupper():
        return "upper"
    if ch.islower():
        return "lower"
    return "other"


def _error_position(text: str, e: UnexpectedInput) -> int:
    token = getattr(e, "token", None)
    if isinstance(token, lark.Token):
        if token.type == "$END":
            return len(text)
        return token.start_pos if token.start_pos is not None else len(text)
    pos = getattr(e, "pos_in_stream", None)
    return pos if isinstance(pos, int) else len(text)


def _state_of(e: UnexpectedInput) -> tuple[int, frozenset[str]]:
    """The LALR state number and the terminals it accepts."""
    state = getattr(e, "state", None)
    position = getattr(state, "position", None)
    if state is None or not isinstance(position, int):  # pragma: no cover - LALR always sets it
        return -1, frozenset()
    table = state.parse_conf.parse_table.states[position]
    accepts = frozenset(name for name in table if name in TERMINAL_NAMES)
    return position, accepts


def _previous(e: UnexpectedInput) -> str | None:
    history = getattr(e, "token_history", None) or []
    last = history[-1] if history else None
    return last.type if isinstance(last, lark.Token) else None


def _signature(text: str, start: str, e: UnexpectedInput) -> _Signature:
    _, accepts = _state_of(e)
    return _Signature(start, accepts, _previous(e), _char_class(text[_error_position(text, e):]))


@functools.cache
def _catalog() -> tuple[dict[_Signature, str], dict[tuple[str, frozenset[str], str | None], str]]:
    """Map error signatures to catalog labels: exact, and by parser state alone."""
    exact: dict[_Signature, str] = {}
    by_state: dict[tuple[str, frozenset[str], str | None], str] = {}
    for mistake in MISTAKES:
        for example in mistake.examples:
            # A one-line mistake in a program is the same mistake in a single turn.
            one_line = example.count("\n") == 0 or example.index("\n") == len(example) - 1
            starts = [mistake.start] + (["turn"] if mistake.start == "start" and one_line else [])
            for start in starts:
                try:
                    _lark().parse(example, start=start)
                except UnexpectedInput as e:
                    sig = _signature(example, start, e)
                    exact.setdefault(sig, mistake.label)
                    by_state.setdefault(sig[:3], mistake.label)
                else:  # pragma: no cover - guarded by tests/dsl/test_mistakes.py
                    msg = f"catalog example {example!r} parses: it shows no mistake"
                    raise AssertionError(msg)
    return exact, by_state


def _line_at(text: str, pos: int) -> str:
    begin = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[begin:] if end == -1 else text[begin:end]
    return line.rstrip("\r")


def _describe(rest: str) -> str:
    if not rest:
        return "the end of the input"
    if rest[0] == "\n":
        return "a line break"
    return f"{rest[0]!r}"


def _odd_position(text: str, pos: int) -> int | None:
    r"""Where an odd character (`is_odd_character`) caused the error at ``pos``, or None.

    That is ``pos`` itself, or an odd character inside a keyword or separator
    the lexer could not finish (``E\u200bXIT``, ``REPL 3 \ufeff>>>x``): the
    ordinary text before it starts one of them, so the odd character, not a
    wrong keyword or a missing separator, is the mistake.
    """
    for end in range(pos, min(pos + len(SEPARATOR), len(text))):
        if is_odd_character(text[end]):
            prefix = text[pos:end]
            if end == pos or any(t.startswith(prefix) for t in (*_KEYWORDS, SEPARATOR)):
                return end
            return None
    return None


def _syntax_error(text: str, start: str, e: UnexpectedInput) -> DslSyntaxError:
    pos = _error_position(text, e)
    _, accepts = _state_of(e)
    odd = _odd_position(text, pos)
    label: str | None
    if odd is not None:
        pos = odd
        after = text[pos - 1] if pos else "\n"
        label = odd_character_label(text[pos], line_start=after == "\n",
                                    space_expected=bool({"SP", "SEP"} & accepts),
                                    number_expected="LINENO" in accepts or after in "0123456789")
    else:
        sig = _signature(text, start, e)
        exact, by_state = _catalog()
        label = exact.get(sig) or by_state.get(sig[:3])
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    expected = tuple(TERMINAL_NAMES[name] for name in TERMINAL_NAMES if name in accepts)
    message = label or f"unexpected {_describe(text[pos:])}"
    return DslSyntaxError(
        message,
        line=line,
        column=column,
        expected=expected,
        source_line=_line_at(text, pos),
        label=label,
    )
