"""The code under test as a module, the same in every sandbox program that runs or describes it.

A part (`toolthink.tool.programs`) of the harness's program, of the separate
mode's (for its tests' process) and of the candidate's: each runs or reports
on the candidate's code, so each needs the fresh ``__main__`` the code runs
in, the errors its compilation may raise, the record of such a failure, and
an exception's message bounded and safe to read. The programs are sent into
the sandbox as source text, where toolthink is not importable, so they share
this file by being assembled from it rather than by importing it. Standard
library only.
"""

from __future__ import annotations

import builtins
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MESSAGE_CHARS = 500
# ValueError: null bytes in the source. RecursionError, MemoryError: nesting
# too deep for the compiler (`x = a` + `.b` * 100000).
_COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def _text(exc: BaseException) -> str:
    """``exc``'s message, cut to `_MESSAGE_CHARS` (``...`` marks a cut)."""
    try:
        text = str(exc)
    except BaseException:  # (the candidate's __str__ may raise anything)
        text = "<the exception's message could not be read>"
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


def _compile_failure(exc: BaseException) -> dict[str, Any]:
    """The fields of a ``syntax`` record for code whose compilation raised ``exc``.

    ``exc`` is one of `_COMPILE_ERRORS`. Returns ``type``, ``message``, and the
    ``line``, ``column`` and ``text`` a `SyntaxError` gives (else None, None, "").
    """
    syntax = exc if isinstance(exc, SyntaxError) else None
    message = _text(exc)
    if isinstance(exc, RecursionError | MemoryError):
        message = ("the code is nested too deeply (or is too large) to compile; "
                   f"flatten the deepest expression ({message or 'no message'})")  # fmt: skip
    return {"type": type(exc).__name__, "message": message,
            "line": getattr(syntax, "lineno", None), "column": getattr(syntax, "offset", None),
            "text": str(getattr(syntax, "text", None) or "").rstrip("\n")[:200]}  # fmt: skip


def _fresh_module() -> dict[str, Any]:
    """A new ``__main__`` module, put in `sys.modules`; returns its namespace."""
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = module.__dict__
    namespace["__builtins__"] = builtins
    return namespace
