"""Corrupt a correct program with 1 to 5 edits and keep the trace that undoes them.

The paper's recipe (Rainone et al., arXiv 2507.05065, section 4.1): apply random
line edits to a correct MBPP solution (delete a line; add a donor line from
another program; replace a line by a donor line; an intra-line change such as a
token swap or a typo), then reverse them: the reversed edits, as DSL commands
ending in ``EXIT``, are the demonstration. toolthink adds the semantic bug kinds
of `toolthink.data.mutations` as further edit kinds.

Each edit is kept with the commands that undo it, computed from the line diff
of that one edit (`toolthink.data.traces.diff_commands`), so edits of any kind
compose: undoing them last-first rebuilds the original exactly. Everything is
deterministic for a seed. Texts are handled with ``\\n`` line endings
(`normalize_newlines`).
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence

import attrs

from toolthink.data.mutations import MUTATIONS, mutate
from toolthink.data.traces import diff_commands
from toolthink.dsl import Command, Exit
from toolthink.tasks.bug_kinds import LINE_EDITS, BugKind

__all__ = [
    "LINE_EDITS",
    "Corruption",
    "Edit",
    "corrupt",
    "normalize_newlines",
    "string_lines",
]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_INDENT = re.compile(r"[ \t]*")


def normalize_newlines(text: str) -> str:
    r"""Return ``text`` with ``\r\n`` and ``\r`` line endings turned into ``\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@attrs.frozen
class Edit:
    """One corrupting edit and the commands that undo it.

    Attributes:
        kind: A `LINE_EDITS` kind or a `toolthink.data.mutations.MUTATIONS` kind.
        undo: Commands that turn the text after this edit back into the text
            before it, in application order.
    """

    kind: BugKind = attrs.field(converter=BugKind)
    undo: tuple[Command, ...]


@attrs.frozen
class Corruption:
    """A corrupted program and how it was made.

    Attributes:
        original: The correct program (``\\n`` line endings).
        corrupted: The program after all edits.
        edits: The edits in the order they were applied.
    """

    original: str
    corrupted: str
    edits: tuple[Edit, ...]

    @property
    def kinds(self) -> tuple[BugKind, ...]:
        """The kinds of the edits, in order."""
        return tuple(e.kind for e in self.edits)

    def trace(self, order: str = "reversed") -> tuple[Command, ...]:
        """The demonstration's commands, ending in ``EXIT``.

        Args:
            order: ``"reversed"`` (the paper's recipe: each edit's undo
                commands, last edit first) or ``"minimal"`` (one top-down line
                diff from the corrupted to the original program; shorter when
                edits overlap).

        Raises:
            ValueError: ``order`` is neither.
        """
        if order == "minimal":
            commands = diff_commands(_split(self.corrupted)[0], _split(self.original)[0])
        elif order == "reversed":
            commands = [c for edit in reversed(self.edits) for c in edit.undo]
        else:
            msg = f"order={order!r} is not a trace order: use 'reversed' or 'minimal'"
            raise ValueError(msg)
        return (*commands, Exit())


def _split(text: str) -> tuple[list[str], bool]:
    lines = text.split("\n")
    final_newline = text.endswith("\n")
    if final_newline:
        lines.pop()
    return lines, final_newline


def _join(lines: Sequence[str], final_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if final_newline else "")


def _reindent(line: str, like: str) -> str:
    indent = _INDENT.match(like)
    return (indent.group() if indent else "") + line.lstrip(" \t")


def string_lines(text: str) -> frozenset[int]:
    """0-based indices of the lines inside string-literal statements (docstrings).

    Edits leave these alone: a bug in a docstring fails no test. Returns an
    empty set when CPython cannot parse ``text``.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    inside: set[int] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str) and node.end_lineno is not None):
            inside.update(range(node.lineno - 1, node.end_lineno))
    return frozenset(inside)


def _line_edit(
    kind: str,
    lines: list[str],
    protected: list[bool],
    donors: Sequence[str],
    rng: random.Random,
) -> bool:
    """Apply one random line edit in place; False when it cannot apply.

    ``protected`` (one flag per line) is kept aligned with ``lines``.
    """
    code = [i for i, line in enumerate(lines) if line.strip() and not protected[i]]
    if not code:
        return False
    if kind == "delete line":
        at = rng.choice(code)
        del lines[at], protected[at]
        return True
    if kind == "add donor line" and donors:
        at = rng.choice([*code, len(lines)])
        lines.insert(at, _reindent(rng.choice(donors), lines[min(at, len(lines) - 1)]))
        protected.insert(at, False)
        return True
    if kind == "replace by donor line" and donors:
        at = rng.choice(code)
        lines[at] = _reindent(rng.choice(donors), lines[at])
        return True
    if kind in ("token swap", "typo"):
        at = rng.choice(code)
        changed = (_token_swap if kind == "token swap" else _typo)(lines[at], rng)
        if changed is not None:
            lines[at] = changed
            return True
    return False


def _token_swap(line: str, rng: random.Random) -> str | None:
    """Swap two neighbouring tokens of ``line``."""
    tokens = list(_TOKEN.finditer(line))
    if len(tokens) < 2:
        return None
    k = rng.randrange(len(tokens) - 1)
    a, b = tokens[k], tokens[k + 1]
    return line[: a.start()] + b.group() + line[a.end() : b.start()] + a.group() + line[b.end() :]


def _typo(line: str, rng: random.Random) -> str | None:
    """Delete, repeat or swap characters inside one word of ``line``."""
    words = [t for t in _TOKEN.finditer(line) if t.group().isidentifier()]
    if not words:
        return None
    word = rng.choice(words)
    text = word.group()
    i = rng.randrange(len(text))
    choice = rng.randrange(3)
    if choice == 0 and len(text) > 1:
        typo = text[:i] + text[i + 1 :]
    elif choice == 1:
        typo = text[:i] + text[i] + text[i:]
    elif i + 1 < len(text):  # swap two neighbours
        typo = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    else:
        typo = text + "_"
    return line[: word.start()] + typo + line[word.end() :]


def corrupt(
    source: str,
    rng: random.Random,
    *,
    donors: Sequence[str] = (),
    edits: int | None = None,
    kinds: Sequence[str] = LINE_EDITS,
    max_tries: int = 20,
) -> Corruption | None:
    """Corrupt ``source`` with ``edits`` edits (1 to 5 drawn by ``rng`` if None).

    Args:
        source: A correct program.
        rng: The random generator; the same seed gives the same corruption.
        donors: Lines from other programs for the donor-line edits.
        edits: How many edits to apply; None draws 1 to 5 (the paper's range).
        kinds: Edit kinds to draw from (`toolthink.tasks.BugKind` names: the
            `LINE_EDITS` and the `MUTATIONS` keys).
        max_tries: Attempts per edit before giving up on it.

    Returns:
        The corruption, or None when no edit could be applied or the result
        equals the original.

    Raises:
        ValueError: ``kinds`` names an unknown edit kind.
    """
    known = [str(k) for k in BugKind]
    unknown = [k for k in kinds if k not in known]
    if unknown:
        msg = f"unknown edit kinds {unknown!r}: use {known}"
        raise ValueError(msg)
    original = normalize_newlines(source)
    lines, final_newline = _split(original)
    count = edits if edits is not None else rng.randint(1, 5)
    applied: list[Edit] = []
    # Docstring lines, tracked through the edits (the text may stop parsing).
    inside = string_lines(original)
    protected = [i in inside for i in range(len(lines))]
    for _ in range(count):
        for _ in range(max_tries):
            kind = rng.choice(list(kinds))
            before, before_protected = list(lines), list(protected)
            if kind in MUTATIONS:
                mutated = mutate(_join(lines, final_newline), kind, rng)
                if mutated is None:
                    continue
                lines, _ = _split(normalize_newlines(mutated))
                inside = string_lines(_join(lines, final_newline))
                protected = [i in inside for i in range(len(lines))]
            elif not _line_edit(kind, lines, protected, donors, rng):
                continue
            if lines == before or not lines:  # no change, or nothing left to repair
                lines, protected = before, before_protected
                continue
            applied.append(Edit(kind, tuple(diff_commands(lines, before))))
            break
    corrupted = _join(lines, final_newline)
    if not applied or corrupted == original:
        return None
    return Corruption(original, corrupted, tuple(applied))
