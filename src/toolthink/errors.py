"""The root of toolthink's exception hierarchy.

Every error toolthink raises on purpose derives from `ToolthinkError`, and each
also subclasses the builtin a caller would expect (`ValueError` for bad input),
in the manner of attrs' ``FrozenInstanceError(AttributeError)``. Errors from
dependencies (lark, LibCST) never cross the package boundary: they are re-raised
as one of these with ``from e``.
"""

from __future__ import annotations

__all__ = ["ToolthinkError"]


class ToolthinkError(Exception):
    """Base class of every error toolthink raises on purpose."""
