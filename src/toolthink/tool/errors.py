"""Errors of the editor: each is a `ToolthinkError` and the builtin a caller expects.

These are raised for a caller's misuse (bytes that are not UTF-8, a splice out
of range, undo with nothing to undo). A model's mistake never raises: it is a
`toolthink.dsl.Rejected` value.
"""

from __future__ import annotations

from toolthink.errors import ToolthinkError

__all__ = [
    "EditorError",
    "EditorUsageError",
    "NothingToUndoError",
    "SourceDecodeError",
    "SourceTypeError",
]


class EditorError(ToolthinkError):
    """Base class of the editor's errors."""


class SourceDecodeError(EditorError, ValueError):
    """The bytes given as source are not valid UTF-8.

    Attributes:
        offset: 0-based byte offset of the first undecodable byte.
        line: 1-based line of that byte (lines as CPython counts them).
        column: 1-based column of that byte, in characters of the decoded prefix.
    """

    def __init__(self, message: str, *, offset: int, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[object, ...]:
        # Keeps the error picklable across worker processes.
        return (_rebuild_decode, (self.message, self.offset, self.line, self.column))


def _rebuild_decode(message: str, offset: int, line: int, column: int) -> SourceDecodeError:
    return SourceDecodeError(message, offset=offset, line=line, column=column)


class SourceTypeError(EditorError, TypeError):
    """The source given to the editor is not a ``str``."""


class EditorUsageError(EditorError, ValueError):
    """A caller passed the editor a value it cannot take (a bug in the caller)."""


class NothingToUndoError(EditorError, IndexError):
    """`CodeEditor.undo` was called on an editor that has applied no command."""
