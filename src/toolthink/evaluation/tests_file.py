"""The tests file of ``toolthink repair``, checked before any model loads.

A repair is only as good as its tests: a file that does not compile, holds no
``assert`` statement, or runs none (test functions never called, as pytest
would call them) makes every attempt fail, or the buggy code "pass". Issue 17
found the model running for minutes on such a file. `static_problem` reads the
file (``compile`` and ``ast``, no sandbox); `run_problem` runs it once against
the buggy code in the sandbox with every ``assert`` instrumented, and says so
when no assertion ran or the tests stopped before any for a reason that is not
the code's (an import the sandbox lacks, a name neither file defines).
"""

from __future__ import annotations

import ast
import re
import secrets

from toolthink.tool import SandboxPool, TestOutcome

__all__ = ["instrument", "run_problem", "static_problem"]

_MARK_FUNCTION = "__toolthink_assertion_ran"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError")
_THE_CODES = frozenset({TestOutcome.SYNTAX_ERROR, TestOutcome.TIMEOUT, TestOutcome.CRASHED,
                        TestOutcome.EXITED, TestOutcome.OUTPUT_LIMIT})
"""Outcomes the code causes before an assertion can run: the model's to repair."""
_HOW = ("repair runs the tests file as plain Python after the code (not with pytest): write "
        "top-level asserts such as `assert add(1, 2) == 3`")


def static_problem(tests: str, name: str) -> str | None:
    """Why the tests text cannot check a repair, from its source alone; None when it may.

    Args:
        tests: The tests file's text.
        name: The file, as messages name it.
    """
    try:
        compile(tests, name, "exec")
        tree = ast.parse(tests)
    except SyntaxError as e:
        return (f"the tests file {name} does not compile (line {e.lineno}: {e.msg}): fix it, "
                "then repair")
    except ValueError as e:  # NUL bytes
        return f"the tests file {name} does not compile ({e}): fix it, then repair"
    if not tree.body:
        return f"the tests file {name} defines nothing: {_HOW}"
    if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        return f"the tests file {name} holds no assert statement: {_HOW}"
    return None


def instrument(tests: str, marker: str) -> tuple[str, str]:
    """``(code suffix, tests)``: every ``assert X`` of ``tests`` prints ``marker`` before X.

    ``assert X, msg`` becomes ``assert __toolthink_assertion_ran(X), msg`` on
    the same lines (columns shift on those lines only); the function, appended
    to the code by the caller, prints ``marker`` (the first time) and returns X
    unchanged.
    """
    edits: list[tuple[int, int, str]] = []  # (line, byte column, text), 1-based lines
    for node in ast.walk(ast.parse(tests)):
        test = node.test if isinstance(node, ast.Assert) else None
        if test is not None and test.end_lineno is not None and test.end_col_offset is not None:
            edits += [(test.lineno, test.col_offset, f"{_MARK_FUNCTION}("),
                      (test.end_lineno, test.end_col_offset, ")")]
    lines = [line.encode("utf-8") for line in tests.splitlines(keepends=True)]
    for line, column, text in sorted(edits, reverse=True):
        raw = lines[line - 1]
        lines[line - 1] = raw[:column] + text.encode("utf-8") + raw[column:]
    suffix = (f"\n\ndef {_MARK_FUNCTION}(value):  # prints once: asserts in a loop stay quiet\n"
              f"    globals()[{_MARK_FUNCTION!r}] = lambda value: value\n"
              f"    print({marker!r}, flush=True)\n    return value\n")
    return suffix, b"".join(lines).decode("utf-8")


def _defined_names(code: str) -> set[str]:
    """The names ``code`` binds at module level (none when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                         and isinstance(n.ctx, ast.Store))
    return names


def run_problem(code: str, tests: str, name: str, sandbox: SandboxPool, *,
                timeout: float) -> str | None:
    """Why the tests, run once against ``code`` (the buggy file), check nothing; None if they do.

    None too when the code does not compile or fails an assertion: the model's
    to repair.

    Args:
        code: The buggy code.
        tests: The tests text (it passed `static_problem`).
        name: The tests file, as messages name it.
        sandbox: Runs them.
        timeout: Seconds.
    """
    marker = f"toolthink-assertion-{secrets.token_hex(8)}"
    suffix, instrumented = instrument(tests, marker)
    report = sandbox.run(code + suffix, instrumented, timeout=timeout)
    if report.outcome is TestOutcome.BAD_TESTS:
        return (f"the tests file {name} does not compile in the sandbox ({report.details}): "
                "fix it, then repair")
    if report.outcome in _THE_CODES or marker in report.output:
        return None
    if report.passed or not report.failures:  # (also the sandbox's own no-assertion refusal)
        return (f"the tests file {name} ran no assertion (its asserts sit in functions nothing "
                f"calls?): {_HOW}, or call the test functions at its end")
    first = report.failures[0]
    if first.code_line is not None:
        return None  # stopped inside the code before any assertion: the code's problem
    names = set(_IDENTIFIER.findall(first.test_source))
    unrelated = first.exception in _IMPORT_ERRORS or not names & _defined_names(code)
    if not unrelated:
        return None
    where = f"line {first.test_line} (`{first.test_source}`)" if first.test_line else "its start"
    hint = (" (the code runs in the same module as the tests: its names need no import)"
            if first.exception in _IMPORT_ERRORS else "")
    return (f"the tests file {name} stops at {where} with {first.exception}: {first.message}, "
            f"before any assertion ran, whatever the code does: fix the tests{hint}, then "
            "repair")
