"""Loading ``grammar/toolthink.lark``, the one specification of the language.

The file ships inside the wheel (``toolthink/dsl/toolthink.lark``) and is read
with `importlib.resources`, so the parser, the constrained decoder and the docs
all read the same bytes. `grammar_items` is the one reader of the file's lines
(definitions and the ``//`` comments above them) for the docs generator
(`toolthink.dsl.reference`) and the decoder's grammar variants
(`toolthink.rollout.grammars`); lark reads the file itself.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import attrs
import lark

from toolthink.errors import ToolthinkError

__all__ = ["TERMINAL_NAMES", "Definition", "GrammarFileError", "build_lark", "grammar_items",
           "grammar_text", "lark_grammar"]

_DEFINITION = re.compile(
    r"(?P<prefix>[?!]?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<attributes>\[[^\]]*\])?\s*:\s*(?P<body>.*)"
)


class GrammarFileError(ToolthinkError, ValueError):
    """A grammar's text has a line the reader cannot place (an alternative under no definition)."""


@attrs.frozen
class Definition:
    """One rule or terminal of a Lark grammar: ``<prefix><name><attributes>: <body>``.

    Attributes:
        prefix: ``"?"`` (inlined rule), ``"!"`` (keep tokens) or ``""``.
        name: The rule (lower case) or terminal (upper case) name.
        attributes: llguidance options, e.g. ``[capture]`` (``""`` in the file).
        body: The right-hand side, continued alternative lines joined by a space.
        comment: The ``//`` lines right above it, without ``//`` and one space.
    """

    prefix: str
    name: str
    attributes: str
    body: str
    comment: tuple[str, ...] = attrs.field(default=(), eq=False)

    def text(self) -> str:
        """The definition as one line of Lark."""
        return f"{self.prefix}{self.name}{self.attributes}: {self.body}"


def grammar_items(text: str) -> list[str | Definition]:
    """The lines of a Lark grammar: a `Definition` per definition, every other line as written.

    Raises:
        GrammarFileError: A continued alternative (``| ...``) follows no definition.
    """
    items: list[str | Definition] = []
    block: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        match = _DEFINITION.fullmatch(stripped)
        if match:
            items.append(Definition(**match.groupdict(""), comment=tuple(block)))
        elif stripped.startswith("|") and items:
            last = items[-1]
            if not isinstance(last, Definition):
                msg = f"{line!r} continues no definition"
                raise GrammarFileError(msg)
            items[-1] = attrs.evolve(last, body=f"{last.body} {stripped}")
        else:
            items.append(line)
        block = [*block, stripped[2:].removeprefix(" ")] if stripped.startswith("//") else []
    return items

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
    return build_lark()


def build_lark(transformer: lark.Transformer[lark.Token, Any] | None = None) -> lark.Lark:
    """A lark parser of the grammar with `lark_grammar`'s options (uncached).

    Args:
        transformer: An inline transformer (`toolthink.dsl.parse` builds IR with
            one); None builds parse trees.
    """
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        strict=True,
        start=["start", "turn"],
        transformer=transformer,
    )
