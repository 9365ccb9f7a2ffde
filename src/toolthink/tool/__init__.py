"""The tool the model drives: the stateful code editor, its rendering, the sandbox.

`CodeEditor` holds one Python source file as text (the source of truth), with
immutable `Snapshot` states, history and undo; `toolthink.dsl.execute` applies
commands to it. `render` produces the state the model reads. `run_tests` and
`SandboxPool` run candidate code against its tests in a sandbox and return a
`TestReport` whose feedback the renderer shows. This package knows nothing of
the command language's syntax.
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
from toolthink.tool.isolation import Isolation, SandboxUnavailableError
from toolthink.tool.limits import Limits
from toolthink.tool.render import RenderConfig, feedback_text, render
from toolthink.tool.report import TestFailure, TestOutcome, TestReport
from toolthink.tool.sandbox import SandboxConfig, SandboxPool, run_batch, run_tests
from toolthink.tool.structure import Parsed, Structure, Unavailable
from toolthink.tool.validity import Invalid, Valid, Validity

__all__ = [
    "CodeEditor",
    "EditorError",
    "EditorUsageError",
    "Invalid",
    "Isolation",
    "Limits",
    "NothingToUndoError",
    "Parsed",
    "RenderConfig",
    "SandboxConfig",
    "SandboxPool",
    "SandboxUnavailableError",
    "Snapshot",
    "SourceDecodeError",
    "SourceTypeError",
    "Structure",
    "TestFailure",
    "TestOutcome",
    "TestReport",
    "Unavailable",
    "Valid",
    "Validity",
    "decode_source",
    "feedback_text",
    "render",
    "run_batch",
    "run_tests",
]
