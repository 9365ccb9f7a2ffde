"""Loading ``grammar/toolthink.lark``, the one specification of the language.

The file ships inside the wheel (``toolthink/dsl/toolthink.lark``) and is read
with `importlib.resources`, so the parser, the constrained decoder and the docs
all read the same bytes.
"""

from __future__ import annotations

import functools
from importlib import resources

import lark

__all__ = ["TERMINAL_NAMES", "grammar_text", "lark_grammar"]

TERMINAL_NAMES: dict[str, str] = {
    "ADDL": "ADDL",
    "REPL": "REPL",
    "REPW": "REPW",
    "DELL": "DELL",
    "EXIT": "EXIT",
    "SP": "a single space",
    "LINENO": "a line number (1 to 99999, no leading zeros)",
    "SEP": "' >>>' (a space, then >>>)",
    "TEXT": "the line's text",
    "OLD_SEP": "the old text, then ' >>>'",
    "NL": "a line break (\\n)",
    "$END": "the end of the input",
}
"""User-facing names of the grammar's terminals, used in error messages."""


@functools.cache
def grammar_text() -> str:
    """Return the text of ``toolthink.lark`` (UTF-8), read once and cached."""
    return resources.files("toolthink.dsl").joinpath("toolthink.lark").read_text(encoding="utf-8")


@functools.cache
def lark_grammar() -> lark.Lark:
    """Return the grammar loaded by lark, built once (tens of ms) and cached.

    This is the plain parser (it builds parse trees); `toolthink.dsl.parse` uses
    its own instance that builds IR directly. Tools that read the grammar's rules
    and terminals (the Hypothesis strategy, the docs generator) start from here.

    The parser is built with ``strict=True`` (regex collisions between terminals
    that one lexer state could see are errors) and a contextual lexer, and has two
    start symbols: ``start`` (a program) and ``turn`` (one command).
    """
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        strict=True,
        start=["start", "turn"],
    )
