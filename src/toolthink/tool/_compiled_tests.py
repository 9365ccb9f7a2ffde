"""The tests as the launcher compiles them: counted, isolated, and the modules they import.

Part of the launcher's program (`toolthink.tool.programs`). The tests are
compiled once per text (cached): once as given, each ``assert`` preceded by a
call that counts it, and once with every ``assert`` and top-level call wrapped
so that, after a failure, the harness can list each failing test
(`toolthink.tool._harness`).
"""

from __future__ import annotations

import ast
import marshal
from typing import Any

_CACHE_SIZE = 512  # compiled test suites kept


def _isolate(tree: ast.Module) -> ast.Module:
    """Wrap each ``assert`` and each top-level expression statement in try/except."""

    def wrap(stmt: ast.stmt) -> ast.stmt:
        record = ast.Expr(
            ast.Call(
                ast.Name("__toolthink_record__", ast.Load()),
                [ast.Name("__toolthink_error__", ast.Load())],
                [],
            )
        )
        handler = ast.ExceptHandler(ast.Name("Exception", ast.Load()), "__toolthink_error__",
                                    [record])  # fmt: skip
        # New nodes take the statement's location (fix_missing_locations copies
        # it down), so tracebacks keep the line numbers of the tests as given.
        return ast.copy_location(ast.Try([stmt], [handler], [], []), stmt)

    class Asserts(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.stmt:
            return wrap(node)

    tree = Asserts().visit(tree)
    tree.body = [wrap(s) if isinstance(s, ast.Expr) else s for s in tree.body]
    return ast.fix_missing_locations(tree)


def _counted(tree: ast.Module) -> ast.Module:
    """Precede each ``assert`` with a call that counts it (``__toolthink_assert__()``).

    The harness passes only tests that ran at least one ``assert``: tests that
    define checks and never call them would otherwise pass anything.
    """

    def count(node: ast.stmt) -> ast.stmt:
        call = ast.Call(ast.Name("__toolthink_assert__", ast.Load()), [], [])
        return ast.copy_location(ast.Expr(call), node)

    class Asserts(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
            return [count(node), node]

    counted: ast.Module = ast.fix_missing_locations(Asserts().visit(tree))
    return counted


def _imported(tree: ast.Module) -> set[str]:
    """Top-level names of the modules that ``tree`` imports absolutely, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _code_imports(code: str) -> set[str]:
    """What `_imported` finds in the candidate's code; nothing if it does not parse."""
    try:
        return _imported(ast.parse(code, "<code>"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


_Compiled = tuple[bytes, bytes, frozenset[str]]
_Refusal = dict[str, str]
_compiled: dict[str, _Compiled | _Refusal] = {}


def _compile_tests(tests: str) -> _Compiled | _Refusal:
    """The tests compiled, or why they cannot be run (the answer's only field).

    Returns:
        The marshalled code of the tests (each ``assert`` counted, see
        `_counted`) and of their isolated form, and the top-level names of the
        modules they import (which the harness imports before its guard, see
        `toolthink.tool._harness`); or ``{"tests_error": text}`` when they do
        not compile, ``{"no_assertions": text}`` when they hold no ``assert``.
    """
    hit = _compiled.get(tests)
    if hit is not None:
        return hit
    result: _Compiled | _Refusal
    try:
        compile(tests, "<tests>", "exec", dont_inherit=True)  # the compiler's own errors first
        tree = ast.parse(tests, "<tests>")
        if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
            result = {"no_assertions": "they hold no assert statement"}
        else:
            imports = frozenset(_imported(tree))
            plain = compile(_counted(tree), "<tests>", "exec", dont_inherit=True)
            tree = ast.parse(tests, "<tests>")
            isolated = compile(_isolate(tree), "<tests>", "exec", dont_inherit=True)
            result = (marshal.dumps(plain), marshal.dumps(isolated), imports)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # see _harness._runner
        result = {"tests_error": f"{type(exc).__name__}: {exc}"}
    if len(_compiled) >= _CACHE_SIZE:
        _compiled.pop(next(iter(_compiled)))
    _compiled[tests] = result
    return result


def _job_imports(job: dict[str, Any]) -> set[str]:
    """Top-level names of the modules a job's code and tests import (cached for the tests)."""
    compiled = _compiled.get(job["tests"])
    tests = compiled[2] if isinstance(compiled, tuple) else frozenset()
    return set(tests) | _code_imports(job["code"])
