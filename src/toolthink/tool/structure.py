"""The concrete syntax tree of a text, from LibCST, offered only when it is faithful.

The text stays the source of truth: the editor never writes text that LibCST
produced. A tree is offered (`Parsed`) only when all three hold:

1. CPython compiles the text (`toolthink.tool.validity`); where LibCST accepts
   code that CPython rejects (e.g. Python 3.12 f-strings on 3.11), CPython wins.
2. LibCST parses it. LibCST's tokenizer rejects some indentation that CPython
   accepts (a tab+space block inside a tab-indented one, as in MBPP/51), and
   it has raised ``TypeError`` rather than a syntax error on some input
   (``else(lambda: 1)``). Every exception it raises becomes `Unavailable`.
3. The tree prints back to the very same text. LibCST 1.9 drops a line that
   holds only a backslash continuation, which changes line numbers.

Otherwise the result is `Unavailable`, with the reason. Parsing costs far more
than `compile`, so nothing calls it per command: callers that need structure
(rendering helpers, the corruption engine) ask for it. LibCST itself is imported
on the first call (about 0.2 s), so importing `toolthink.tool` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import attrs

from toolthink.tool.lines import position
from toolthink.tool.validity import Invalid, Validity, check_python

if TYPE_CHECKING:
    import libcst as cst

__all__ = ["Parsed", "Structure", "Unavailable", "parse_structure"]


@attrs.frozen
class Parsed:
    """LibCST's tree of the text; ``module.code`` equals the text exactly.

    Attributes:
        module: The LibCST module. Treat it as read-only; to change the code,
            edit the text.
    """

    module: cst.Module = attrs.field(repr=False)

    @property
    def available(self) -> bool:
        """Always True."""
        return True


@attrs.frozen
class Unavailable:
    """No faithful tree for the text; the text can still be edited as is.

    Attributes:
        reason: Why, e.g. ``"LibCST cannot parse this code (ParserSyntaxError:
            tokenizer error: no matching outer block for dedent)"``.
    """

    reason: str

    @property
    def available(self) -> bool:
        """Always False."""
        return False


Structure: TypeAlias = Parsed | Unavailable
"""A faithful LibCST tree of a text, or why there is none."""


def parse_structure(source: str, validity: Validity | None = None) -> Structure:
    """Parse ``source`` with LibCST, if CPython accepts it and the tree is faithful.

    Args:
        source: Python source text.
        validity: ``check_python(source)`` when the caller has it already.

    Returns:
        `Parsed` with a module whose ``code`` is ``source``, or `Unavailable`
        with the reason. Never raises for any ``str`` input (KeyboardInterrupt
        and SystemExit still propagate).
    """
    import libcst as cst  # noqa: PLC0415 - 0.2 s to import; only callers that need structure pay

    if validity is None:
        validity = check_python(source)
    if isinstance(validity, Invalid):
        return Unavailable(f"CPython does not accept the code ({validity.describe()})")
    try:
        module = cst.parse_module(source)
        code = module.code
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # LibCST's native parser may panic: a BaseException
        return Unavailable(f"LibCST cannot parse this code ({_summary(e)})")
    if code != source:
        where = _first_difference(source, code)
        return Unavailable(
            "LibCST's tree does not print back to the same text (it differs from "
            f"line {where} on), so its structure would not be faithful"
        )
    return Parsed(module)


def _summary(error: BaseException) -> str:
    """The exception's class and the first non-empty line of its message."""
    import libcst as cst  # noqa: PLC0415 - already loaded by parse_structure

    lines = [s.strip() for s in str(error).splitlines() if s.strip()]
    name = type(error).__name__
    if isinstance(error, cst.ParserSyntaxError):
        # Its first line is a position LibCST computes itself ("@ 1:1" for tokenizer
        # errors); the second holds the reason.
        lines = lines[1:] or lines
    return f"{name}: {lines[0]}" if lines else name


def _first_difference(a: str, b: str) -> int:
    """1-based line (CPython's numbering, in ``a``) where ``a`` and ``b`` first differ."""
    pairs = zip(a, b, strict=False)
    index = next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a), len(b)))
    return position(a, index)[0]
