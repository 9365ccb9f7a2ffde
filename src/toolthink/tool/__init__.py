"""The tool the model drives: the stateful code editor, its rendering, the sandbox.

`CodeEditor` holds one Python source file as text (the source of truth), with
immutable `Snapshot` states, history and undo; `toolthink.dsl.execute` applies
commands to it. `render` produces the state the model reads. This package knows
nothing of the command language's syntax.
"""

from __future__ import annotations

from toolthink.tool.editor import CodeEditor, Snapshot, decode_source
from toolthink.tool.errors import (
    EditorError,
    EditorUsageError,
    NothingToUndoError,
    SourceDecodeError,
    SourceTypeError,
)
from toolthink.tool.render import RenderConfig, render
from toolthink.tool.structure import Parsed, Structure, Unavailable
from toolthink.tool.validity import Invalid, Valid, Validity

__all__ = [
    "CodeEditor",
    "EditorError",
    "EditorUsageError",
    "Invalid",
    "NothingToUndoError",
    "Parsed",
    "RenderConfig",
    "Snapshot",
    "SourceDecodeError",
    "SourceTypeError",
    "Structure",
    "Unavailable",
    "Valid",
    "Validity",
    "decode_source",
    "render",
]
