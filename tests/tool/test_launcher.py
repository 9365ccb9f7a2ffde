"""The launcher's helpers, run in this process: the isolated tests and the cleanup."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from toolthink.tool import _cleanup, _compiled_tests


def test_isolated_tests_keep_their_line_numbers_and_go_on_after_a_failure() -> None:
    tests = (
        "def check(candidate):\n"
        "    assert candidate(1) == 1\n"
        "    assert candidate(2) == 5\n"
        "    for x in range(3):\n"
        "        assert candidate(x) == x\n"
        "    assert candidate(3) == 9\n"
        "check(lambda x: x)\n"
        "assert False\n"
        "undefined_call()\n"
    )
    tree = _compiled_tests._isolate(ast.parse(tests))
    recorded: list[tuple[str, int]] = []

    def record(exc: BaseException) -> None:
        tb = exc.__traceback__
        line = 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<tests>":
                line = tb.tb_lineno
            tb = tb.tb_next
        recorded.append((type(exc).__name__, line))

    namespace = {"__toolthink_record__": record}
    exec(compile(tree, "<tests>", "exec"), namespace)
    assert recorded == [
        ("AssertionError", 3),
        ("AssertionError", 6),
        ("AssertionError", 8),
        ("NameError", 9),
    ]


def test_compiled_tests_are_cached_and_syntax_errors_reported() -> None:
    first = _compiled_tests._compile_tests("assert 1\n")
    assert _compiled_tests._compile_tests("assert 1\n") is first
    error = _compiled_tests._compile_tests("assert (\n")
    assert isinstance(error, dict)
    assert error["tests_error"].startswith("SyntaxError")


@pytest.mark.parametrize(
    "tests", ["", "   \n\n", "# only a comment\n", "print(1)\n", "def check(c):\n    return c\n"]
)
def test_tests_without_an_assert_are_refused_before_running(tests: str) -> None:
    refusal = {"no_assertions": "they hold no assert statement"}
    assert _compiled_tests._compile_tests(tests) == refusal


def test_each_assert_is_counted_where_it_stands() -> None:
    tests = (
        "def check(candidate):\n"
        "    assert candidate(1) == 1\n"
        "    for x in range(3):\n"
        "        assert candidate(x) == x\n"
        "check(lambda x: x)\n"
        "def never(c):\n"
        "    assert c\n"
    )
    counted: list[int] = []
    namespace = {"__toolthink_assert__": lambda: counted.append(1)}
    exec(compile(_compiled_tests._counted(ast.parse(tests)), "<tests>", "exec"), namespace)
    assert len(counted) == 4
    try:
        counted_tree = _compiled_tests._counted(ast.parse("assert 1\nassert 0\n"))
        exec(compile(counted_tree, "<tests>", "exec"), namespace)
    except AssertionError as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        assert tb is not None
        assert tb.tb_lineno == 2  # the tests' own line numbers
    else:
        raise AssertionError("assert 0 passed")


def test_imported_module_names_are_top_level_and_absolute() -> None:
    code = (
        "import os.path, re as regex\n"
        "from collections.abc import Iterable\n"
        "from . import sibling\n"
        "def f():\n"
        "    import heapq\n"
        "    return importlib.import_module('fractions')\n"
    )
    assert _compiled_tests._code_imports(code) == {"os", "re", "collections", "heapq"}
    assert _compiled_tests._code_imports("import math\nif x =\n") == set()
    compiled = _compiled_tests._compile_tests("from math import isqrt\nassert isqrt(4) == 2\n")
    assert not isinstance(compiled, dict)
    assert compiled[2] == {"math"}


def test_wipe_removes_what_a_run_locked(tmp_path: Path) -> None:
    locked = tmp_path / "a" / "b"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    (tmp_path / "link").symlink_to("/usr")
    os.chmod(locked, 0)
    os.chmod(tmp_path / "a", 0o500)
    assert _cleanup._wipe(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert Path("/usr").is_dir()
