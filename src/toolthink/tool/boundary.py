"""Where the tests run: in the candidate's process, or in a process of their own.

`TestsProcess.SAME` is the one-process harness (`toolthink.tool._harness`): code
and tests in one module, the verdict guarded by a per-run secret held by an
audit hook in that same process. A candidate can read the tests there (frames,
``gc``, ``sys.modules``), return an object whose ``__eq__`` is always true, and
any memory-safety bug of the interpreter reachable from Python forges a pass.

`TestsProcess.SEPARATE` runs the candidate's module in one interpreter
(`toolthink.tool._candidate`) and the tests in another
(`toolthink.tool._tests_runner`), which calls the candidate's top-level
functions through a boundary that carries plain data only
(`toolthink.tool._wire`): the tests' source, their expected values and the
secret never exist in the candidate's memory, and no object of the candidate's
(an always-equal object, a ``str`` subclass, a generator) reaches the tests: a
return value that is not plain data fails the test, naming its type. The tests'
process runs no candidate code and is out of the candidate's reach (its
docstring says why), so its verdict holds whatever the candidate's interpreter
does. Semantics kept: exceptions cross as their builtin class; module-level
plain-data constants are copied (once, after the module ran); output is
captured as before; limits and timeouts are the same, per process.

Some tests need objects that cannot cross: QuixBugs' graph and linked-list tests
build ``Node`` objects and pass them to the candidate. `choose_tests_process`
decides per test suite, from the tests' source alone (never from anything the
candidate does), and the report records the choice (`TestReport.tests_process`).
"""

from __future__ import annotations

import ast
import enum
import functools

__all__ = ["TestsProcess", "choose_tests_process"]


class TestsProcess(enum.Enum):
    """Where a run's tests ran (recorded in every `TestReport`)."""

    __test__ = False  # not a pytest test class

    SAME = "same"
    """In the candidate's process (the one-process harness)."""
    SEPARATE = "separate"
    """In a process of their own, calling the candidate through a plain-data boundary."""


def choose_tests_process(requested: TestsProcess, tests: str) -> TestsProcess:
    """The process ``tests`` run in when ``requested``; decided from the tests alone.

    Tests that define a class fall back to `TestsProcess.SAME`: their objects
    (QuixBugs' ``Node``) are made to be passed to the candidate, and only plain
    data crosses. Tests that do not parse fall back too (the one-process
    harness reports them as `toolthink.tool.TestOutcome.BAD_TESTS`).

    Args:
        requested: The configured mode (`SandboxConfig.tests_process`).
        tests: The tests' source.

    Returns:
        ``requested``, or `TestsProcess.SAME` for tests of the kinds above.
    """
    if requested is TestsProcess.SAME:
        return requested
    return TestsProcess.SEPARATE if _crossable(tests) else TestsProcess.SAME


@functools.lru_cache(maxsize=4096)
def _crossable(tests: str) -> bool:
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return not any(isinstance(node, ast.ClassDef) for node in ast.walk(tree))
