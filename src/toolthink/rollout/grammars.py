"""Grammars for the constrained decoder, derived from ``grammar/toolthink.lark``.

The decoder masks tokens with llguidance, which reads Lark itself
(https://github.com/guidance-ai/llguidance/blob/main/docs/syntax.md). This module
rewrites the one grammar file, definition by definition, into the variants the
decoder needs; nothing here restates the language:

- `program_grammar`: the ``start`` symbol, a program of commands.
- `turn_grammar`: the ``turn`` symbol, one command: what one model turn may say.
  Given the current file, it admits only line numbers that exist (1..n, and
  1..n+1 for ADDL) and, optionally, only REPW old text that occurs in its line,
  so that every command it admits is one `toolthink.dsl.execute` applies.
- `vllm_structured_outputs` / `VLLM_ENGINE_KWARGS`: the same grammar text as
  vLLM structured-output parameters, so the GPU path masks identically.

Both grammars name the ``exit`` rule as an llguidance capture (`EXIT_CAPTURE`), so
the episode's end is read from the matcher (``get_capture``), which does not
depend on how the tokens were chunked (`toolthink.rollout.constrained`).

The derived texts use llguidance extensions (``%llguidance``, ``[capture]``,
``%regex``, ``&``) and are for llguidance only; lark keeps reading the file.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Final

import attrs

from toolthink.dsl import MAX_LINE, Editor, grammar_text
from toolthink.dsl.grammar import Definition, GrammarFileError, grammar_items
from toolthink.errors import ToolthinkError

__all__ = [
    "EXIT_CAPTURE",
    "VLLM_ENGINE_KWARGS",
    "GrammarDerivationError",
    "line_number_regex",
    "program_grammar",
    "turn_grammar",
    "turn_grammar_for",
    "vllm_structured_outputs",
]

EXIT_CAPTURE: Final = "exit"
"""llguidance capture name set on the ``exit`` rule: present once EXIT is accepted."""

VLLM_ENGINE_KWARGS: Final = {"structured_outputs_config": {"backend": "guidance"}}
"""Keyword arguments for ``vllm.LLM(...)``: mask with llguidance.

On the command line: ``vllm serve ... --structured-outputs-config.backend guidance``.

vLLM's ``auto`` backend may pick xgrammar, which does not read the ``%regex``
and ``&`` extensions of the restricted turn grammar; ``guidance`` reads the text
exactly as this module's tests do (``llguidance.grammar_from("grammar", text)``).
"""

_HEADER = "%llguidance {}\n"  # marks the text as llguidance Lark for vLLM and SGLang


class GrammarDerivationError(ToolthinkError, ValueError):
    """A grammar variant cannot be derived: bad bounds, or the grammar file changed shape."""


# Strings, regexes, names and single characters of a definition's body.
_BODY_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"i?|/(?:[^/\\\n]|\\.)+/[imslux]*|[A-Za-z_][A-Za-z0-9_]*|\s+|.'
)


def _parse_definition(text: str) -> Definition:
    items = grammar_items(text)
    if len(items) != 1 or not isinstance(items[0], Definition):
        msg = f"{text!r} is not a one-line Lark definition"
        raise GrammarDerivationError(msg)
    return items[0]


class _Grammar:
    """A Lark grammar as an ordered list of lines and definitions (`grammar_items`)."""

    def __init__(self, text: str) -> None:
        try:
            self.items = grammar_items(text)
        except GrammarFileError as e:
            raise GrammarDerivationError(str(e)) from e

    def copy(self) -> _Grammar:
        """An independent copy (definitions are frozen, so the list is all to copy)."""
        twin = _Grammar("")
        twin.items = list(self.items)
        return twin

    def text(self) -> str:
        lines = [item.text() if isinstance(item, Definition) else item for item in self.items]
        return _HEADER + "\n".join(lines) + "\n"

    def _index(self, name: str) -> int:
        for i, item in enumerate(self.items):
            if isinstance(item, Definition) and item.name == name:
                return i
        msg = (
            f"grammar/toolthink.lark has no definition {name!r}, which "
            "toolthink.rollout.grammars rewrites: update that module to the grammar"
        )
        raise GrammarDerivationError(msg)

    def get(self, name: str) -> Definition:
        item = self.items[self._index(name)]
        assert isinstance(item, Definition)
        return item

    def update(self, name: str, *, body: str | None = None, attributes: str | None = None) -> None:
        old = self.get(name)
        new = attrs.evolve(
            old,
            body=old.body if body is None else body,
            attributes=old.attributes if attributes is None else attributes,
        )
        self.items[self._index(name)] = new

    def add_after(self, anchor: str, definitions: Sequence[str]) -> None:
        at = self._index(anchor) + 1
        self.items[at:at] = [_parse_definition(d) for d in definitions]

    def replace_symbols(self, name: str, old: Sequence[str], new: str) -> None:
        """In ``name``'s body, replace the symbol sequence ``old`` by the symbol ``new``."""
        tokens = _BODY_TOKEN.findall(self.get(name).body)
        words = [(i, t) for i, t in enumerate(tokens) if not t.isspace()]
        for k in range(len(words) - len(old) + 1):
            if [t for _, t in words[k : k + len(old)]] == list(old):
                first, last = words[k][0], words[k + len(old) - 1][0]
                tokens[first : last + 1] = [new]
                self.update(name, body="".join(tokens))
                return
        msg = (
            f"rule {name!r} ({self.get(name).body!r}) does not contain {' '.join(old)!r}: "
            "update toolthink.rollout.grammars to grammar/toolthink.lark"
        )
        raise GrammarDerivationError(msg)

    def drop_alternatives(self, name: str, symbols: set[str]) -> None:
        """Remove the top-level alternatives of ``name`` that are exactly one of ``symbols``."""
        alternatives, depth, current = [], 0, ""
        for token in _BODY_TOKEN.findall(self.get(name).body):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(token, 0)
            if token == "|" and depth == 0:
                alternatives.append(current.strip())
                current = ""
            else:
                current += token
        alternatives.append(current.strip())
        kept = [a for a in alternatives if a not in symbols]
        if len(kept) != len(alternatives) - len(symbols):
            msg = f"rule {name!r} ({self.get(name).body!r}) lacks one of {sorted(symbols)}"
            raise GrammarDerivationError(msg)
        self.update(name, body=" | ".join(kept))


@functools.cache
def _base_grammar() -> _Grammar:
    grammar = _Grammar(grammar_text())
    grammar.update("exit", attributes=f'[capture="{EXIT_CAPTURE}"]')
    return grammar


def _base() -> _Grammar:
    return _base_grammar().copy()  # parsed once; each variant edits its own copy


def program_grammar() -> str:
    """Return the llguidance grammar of a program: the file's ``start`` symbol.

    The language is that of ``toolthink.dsl.parse``; line numbers are not bounded
    (the file changes between commands).

    Returns:
        llguidance Lark text (starts with ``%llguidance {}``).
    """
    return _base().text()


def line_number_regex(last: int) -> str:
    """Return a regex matching the decimal numbers 1..``last`` without leading zeros.

    Args:
        last: The largest number, 1 to `toolthink.dsl.MAX_LINE`.

    Returns:
        A regex (Rust ``regex`` and Python ``re`` syntax agree on it) such as
        ``[1-9]|[1-2][0-9]|3[0-4]`` for 34, to match in full.

    Raises:
        GrammarDerivationError: ``last`` is out of range.
    """
    if type(last) is not int or not 1 <= last <= MAX_LINE:
        msg = f"last={last!r} is not a line count: pass an int from 1 to {MAX_LINE}"
        raise GrammarDerivationError(msg)
    digits = str(last)
    width = len(digits)
    alternatives = []
    if width > 1:  # every number with fewer digits
        alternatives.append("[1-9]" + (f"[0-9]{{0,{width - 2}}}" if width > 2 else ""))
    for i, ch in enumerate(digits):
        low = 1 if i == 0 else 0
        high = int(ch) if i == width - 1 else int(ch) - 1  # the last digit may equal
        if high < low:
            continue
        span = str(low) if low == high else f"[{low}-{high}]"
        rest = width - i - 1
        tail = "" if rest == 0 else ("[0-9]" if rest == 1 else f"[0-9]{{{rest}}}")
        alternatives.append(digits[:i] + span + tail)
    return "|".join(alternatives)


def turn_grammar(n_lines: int | None = None, *, lines: Sequence[str] | None = None) -> str:
    """Return the llguidance grammar of one model turn: the file's ``turn`` symbol.

    With no argument the language is that of ``toolthink.dsl.parse_command``.
    With the current file's size, line numbers are bounded to lines that exist:
    1..n for REPL, REPW and DELL, 1..n+1 for ADDL (n+1 appends), as
    `toolthink.dsl.execute` checks them; commands that need a line disappear
    from an empty file. With the file's lines, REPW is further restricted to
    lines that are not empty and to old text that occurs in its line (one
    alternative per line; llguidance's ``substring_chars``).

    Args:
        n_lines: Number of lines in the file (0 to `toolthink.dsl.MAX_LINE`).
        lines: The file's lines without line endings (instead of ``n_lines``);
            restricts REPW's old text.

    Returns:
        llguidance Lark text (starts with ``%llguidance {}``).

    Raises:
        GrammarDerivationError: both arguments given, a bad count, or a line
            holding a line break.
    """
    if n_lines is not None and lines is not None:
        msg = "pass n_lines or lines, not both: lines=... gives the count and restricts REPW"
        raise GrammarDerivationError(msg)
    if lines is not None:
        _check_lines(lines)
        n_lines = len(lines)
    grammar = _base()
    grammar.update("start", body="turn")
    if n_lines is None:
        return grammar.text()
    if type(n_lines) is not int or not 0 <= n_lines <= MAX_LINE:
        msg = f"n_lines={n_lines!r} is not a line count: pass an int from 0 to {MAX_LINE}"
        raise GrammarDerivationError(msg)
    _bound_lines(grammar, n_lines)
    if lines is not None and n_lines:
        _restrict_old_text(grammar, lines)
    return grammar.text()


def turn_grammar_for(editor: Editor, *, restrict_old_text: bool = False) -> str:
    """Return `turn_grammar` for an editor's current text.

    Args:
        editor: Any `toolthink.dsl.Editor` (``line_count`` and ``line(n)``).
        restrict_old_text: Also restrict REPW's old text to text of its line
            (grammar size grows with the file: see docs/constrained-decoding.md).

    Returns:
        llguidance Lark text.
    """
    if restrict_old_text:
        return turn_grammar(lines=[editor.line(n) for n in range(1, editor.line_count + 1)])
    return turn_grammar(editor.line_count)


def _check_lines(lines: Sequence[str]) -> None:
    if isinstance(lines, str):
        msg = "lines is a str: pass the file's lines as a list, e.g. text.splitlines()"
        raise GrammarDerivationError(msg)
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str) or "\n" in line or "\r" in line:
            msg = (
                f"line {number} ({line!r}) is not one line of text: pass str lines "
                "without line endings"
            )
            raise GrammarDerivationError(msg)


def _bound_lines(grammar: _Grammar, n_lines: int) -> None:
    """LINENO becomes 1..n; ADDL gets its own terminal, 1..n+1."""
    grammar.add_after("LINENO", [f"ADDL_LINENO: /{line_number_regex(min(n_lines + 1, MAX_LINE))}/"])
    grammar.replace_symbols("addl", ["LINENO"], "ADDL_LINENO")
    if n_lines == 0:  # no line to replace, edit or delete
        grammar.drop_alternatives("command", {"repl", "repw", "dell"})
    else:
        grammar.update("LINENO", body=f"/{line_number_regex(n_lines)}/")


def _restrict_old_text(grammar: _Grammar, lines: Sequence[str]) -> None:
    """REPW: one alternative per non-empty line, old text a substring of that line."""
    alternatives, terminals = [], []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue  # REPW's old text is never empty
        alternatives.append(f'"{number}" SEP OLD_SEP_{number}')
        chars = json.dumps({"substring_chars": line})
        # the base terminal (non-empty, no " >>>" inside, then " >>>"), intersected
        # with "a substring of this line, then the separator"
        terminals.append(f"OLD_SEP_{number}: OLD_SEP & (%regex {chars} SEP)")
    if not alternatives:
        grammar.drop_alternatives("command", {"repw"})
        return
    grammar.replace_symbols("repw", ["LINENO", "SEP", "OLD_SEP"], "repw_target")
    grammar.add_after("repw", [f"repw_target: {' | '.join(alternatives)}"])
    grammar.add_after("OLD_SEP", terminals)


def vllm_structured_outputs(grammar: str) -> dict[str, str]:
    """Return vLLM's structured-output parameters for a grammar of this module.

    Use them per request, ``SamplingParams(structured_outputs=
    StructuredOutputsParams(**vllm_structured_outputs(g)))``, or through TRL,
    ``GRPOConfig(generation_kwargs={"structured_outputs": vllm_structured_outputs(g)})``,
    with the engine built with `VLLM_ENGINE_KWARGS`. vLLM hands the text to
    ``llguidance.grammar_from("grammar", text)``, which reads it as Lark because
    it starts with ``%llguidance``: the masks are the ones this package computes.
    Sources: vLLM ``vllm/v1/structured_output/backend_guidance.py``; vLLM docs
    "Structured Outputs" (``guided_grammar`` became ``structured_outputs.grammar``
    in v0.12).

    Args:
        grammar: Text from `program_grammar` or `turn_grammar`.

    Returns:
        ``{"grammar": grammar}``.

    Raises:
        GrammarDerivationError: ``grammar`` does not come from this module.
    """
    if not isinstance(grammar, str) or not grammar.startswith(_HEADER):
        msg = (
            "grammar does not start with '%llguidance {}': pass the text of "
            "program_grammar() or turn_grammar(...), not the raw grammar file"
        )
        raise GrammarDerivationError(msg)
    return {"grammar": grammar}
