"""The tool the model drives: the stateful code editor, its rendering, the sandbox."""

from __future__ import annotations

# The sandboxed test runner (toolthink.tool.sandbox and the modules it uses).
from toolthink.tool.isolation import Isolation, SandboxUnavailableError
from toolthink.tool.limits import Limits
from toolthink.tool.report import TestFailure, TestOutcome, TestReport
from toolthink.tool.sandbox import SandboxConfig, SandboxPool, run_batch, run_tests

__all__ = [
    "Isolation",
    "Limits",
    "SandboxConfig",
    "SandboxPool",
    "SandboxUnavailableError",
    "TestFailure",
    "TestOutcome",
    "TestReport",
    "run_batch",
    "run_tests",
]
