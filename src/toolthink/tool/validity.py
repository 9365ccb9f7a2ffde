"""Is this valid Python? CPython's `compile` on the running interpreter answers.

`compile` (not `ast.parse`) is the judge, because the compiler rejects code the
parser accepts (``return`` outside a function, ``nonlocal`` at module level).
Warnings are not errors: a ``SyntaxWarning`` is silenced even when the caller
turned warnings into errors. Any exception `compile` raises (``SyntaxError``
and its subclasses, ``RecursionError`` or ``MemoryError`` on deep nesting,
``UnicodeEncodeError`` on lone surrogates) becomes an `Invalid` value.
"""

from __future__ import annotations

import warnings
from typing import TypeAlias

import attrs

from toolthink.tool.lines import position

__all__ = ["Invalid", "Valid", "Validity", "check_python"]

_FILENAME = "<editor>"


@attrs.frozen
class Valid:
    """CPython compiles the text."""

    @property
    def ok(self) -> bool:
        """Always True."""
        return True


@attrs.frozen
class Invalid:
    """CPython does not compile the text.

    Attributes:
        kind: The exception's class name: ``"SyntaxError"``, ``"IndentationError"``,
            ``"TabError"``, or e.g. ``"RecursionError"`` for code nested too deep.
        message: CPython's message, e.g. ``"'(' was never closed"``.
        line: 1-based line of the error, or None when CPython gives none. It may
            be one past the last line (an error at the end of the file).
        column: 1-based column, in characters (a tab counts one), or None.
    """

    kind: str
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def ok(self) -> bool:
        """Always False."""
        return False

    def describe(self) -> str:
        """One line for the model: ``"SyntaxError at line 2, column 5: '(' was never closed"``."""
        where = ""
        if self.line is not None:
            where = f" at line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{self.kind}{where}: {self.message}"


Validity: TypeAlias = Valid | Invalid
"""Whether CPython accepts a text."""


def check_python(source: str) -> Validity:
    """Compile ``source`` with the running interpreter and report whether it is valid.

    Args:
        source: Python source text.

    Returns:
        `Valid`, or `Invalid` with CPython's message and position. Never raises
        for any ``str`` input.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, _FILENAME, "exec", dont_inherit=True)
    except SyntaxError as e:
        line, column = e.lineno, e.offset
        if line is None and "\x00" in source:
            # CPython 3.11 reports null bytes without a position.
            line, column = position(source, source.index("\x00"))
        return Invalid(
            type(e).__name__,
            e.msg,
            line if line is not None and line > 0 else None,
            column if column is not None and column > 0 else None,
        )
    except UnicodeEncodeError as e:
        # A lone surrogate: the text cannot even be encoded for the compiler.
        return Invalid(type(e).__name__, e.reason, *position(source, e.start))
    except Exception as e:  # any failure to compile means "not valid"
        message = str(e) or "CPython could not compile the code"
        return Invalid(type(e).__name__, message)
    return Valid()

