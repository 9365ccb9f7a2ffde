"""Errors of the command language: syntax errors with a caret under the source line, and bugs."""

from __future__ import annotations

from typing import Any

from toolthink.errors import ToolthinkError

__all__ = ["DslSyntaxError", "MissingRuleHandlerError"]


class MissingRuleHandlerError(ToolthinkError, AssertionError):
    """A grammar rule has no IR builder in `toolthink.dsl.parser` (a bug, not bad input).

    Attributes:
        rule: The rule's name in ``grammar/toolthink.lark``.
    """

    def __init__(self, rule: str) -> None:
        msg = (f"grammar rule {rule!r} has no handler in toolthink.dsl.parser._Builder: add a "
               f"method {rule}(self, children) that builds its IR node")
        super().__init__(msg)
        self.rule = rule


class DslSyntaxError(ToolthinkError, ValueError):
    """The text is not a command (or program) of the language.

    Attributes:
        message: What is wrong and how to fix it.
        line: 1-based line of the error in the source text.
        column: 1-based column (in characters) of the error.
        expected: User-facing names of what the grammar accepts there.
        source_line: The source line holding the error, without its line break.
        label: The catalog label of a typical mistake, or the label naming an
            odd character (`toolthink.dsl.mistakes`), or None when no label matched.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        expected: tuple[str, ...] = (),
        source_line: str = "",
        label: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.expected = expected
        self.source_line = source_line
        self.label = label

    def context(self) -> str:
        """Return the source line with a caret under the error column.

        Tabs before the column are kept so the caret lines up in a terminal.
        """
        prefix = self.source_line[: self.column - 1]
        pad = "".join("\t" if ch == "\t" else " " for ch in prefix)
        return f"{self.source_line}\n{pad}^"

    def __str__(self) -> str:
        parts = [f"Syntax error @ {self.line}:{self.column}: {self.message}", "", self.context()]
        if self.expected:
            parts.append("expected: " + ", ".join(self.expected))
        return "\n".join(parts)

    def __reduce__(self) -> tuple[object, ...]:
        # Keeps the error picklable across worker processes.
        fields = {
            "line": self.line, "column": self.column, "expected": self.expected,
            "source_line": self.source_line, "label": self.label,
        }
        return (_rebuild, (self.message, fields))


def _rebuild(message: str, fields: dict[str, Any]) -> DslSyntaxError:
    return DslSyntaxError(message, **fields)
