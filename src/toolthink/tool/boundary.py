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
plain-data constants are copied (once, after the module ran); a returned
iterator's items cross one by one; the standard library's containers
(``Counter`` ...) and builtin types are rebuilt; output is captured as before;
limits and timeouts are the same, per process; the feedback is the one-process
harness's (tests/tool/test_tests_process.py compares them).

Not kept, by design: a candidate's object never reaches the tests (a test that
compares one, or reads a non-plain global or a module of the candidate's that
is not the standard library's, fails naming its type); a global the candidate
changes after its module ran is not seen again; builtin names the tests use
stay the builtins even if the candidate defines them (with a shared module a
candidate's ``abs`` answers the tests' ``abs(result - expected) < eps``);
``StopIteration`` and the ``BaseException``-only classes raised by the
candidate arrive as generic exceptions. Signal handlers, ``ctypes`` and the
like work in the candidate's process, which guards nothing.

Some tests need objects that cannot cross: QuixBugs' graph and linked-list tests
build ``Node`` objects and pass them to the candidate, and the embedded corpus's
``MinStack`` and ``BankAccount`` tests make instances of the candidate's class
and call their methods. `choose_tests_process`
decides per test suite, from the tests' source alone (never from anything the
candidate does), and the report records the choice (`TestReport.tests_process`).
"""

from __future__ import annotations

import ast
import builtins
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

    These fall back to `TestsProcess.SAME`, since only plain data crosses:

    - tests that define a class (its objects, QuixBugs' ``Node``, are made to
      be passed to the candidate);
    - tests that call a capitalized name they do not define (an import does
      not count) and that is not a builtin (``BankAccount(10)``: by the PEP 8
      convention a class, the candidate's, whose instances the tests then use,
      or an imported one, ``Fraction``, whose instances do not cross);
    - tests that do not parse (the one-process harness reports them as
      `toolthink.tool.TestOutcome.BAD_TESTS`).

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
    defined: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            return False
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            defined.add(node.id)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return not any(name[:1].isupper() and name not in defined and not hasattr(builtins, name)
                   for name in called)  # fmt: skip
