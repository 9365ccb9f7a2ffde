"""The runner's contract: pass/fail, feedback with the editor's line numbers, the batch API."""

from __future__ import annotations

import re

import pytest

from toolthink.tool import (
    CodeEditor,
    Isolation,
    SandboxConfig,
    SandboxPool,
    TestOutcome,
    render,
    run_batch,
    run_tests,
)

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(1, 2) == 3\nassert add('a', 'b') == 'ab'\n"


def test_passing_code_passes(pool: SandboxPool) -> None:
    report = pool.run(ADD, ADD_TESTS, timeout=10)
    assert report.passed
    assert report.outcome is TestOutcome.PASSED
    assert report.feedback == "All tests passed."
    assert report.failures == ()
    assert report.isolation is pool.isolation
    assert report.exit_status == 0


def test_each_failing_test_is_listed_with_its_lines(pool: SandboxPool) -> None:
    code = "def add(a, b):\n    return a - b\n"
    tests = "assert add(1, 1) == 2\nassert add(2, 2) == 0\nassert add('a', 'b') == 'ab'\n"
    report = pool.run(code, tests, timeout=10)
    assert not report.passed
    assert report.outcome is TestOutcome.FAILED
    assert [(f.exception, f.test_line, f.code_line) for f in report.failures] == [
        ("AssertionError", 1, None),
        ("TypeError", 3, 2),
    ]
    assert report.failures[0].test_source == "assert add(1, 1) == 2"
    assert "2 tests failed" in report.feedback
    assert "line 1 of the tests: assert add(1, 1) == 2" in report.feedback
    assert "raised at line 2 of the code" in report.feedback


def test_line_numbers_are_the_codes_own(pool: SandboxPool) -> None:
    code = "\n\n\nimport math\n\n\ndef root(x):\n    return math.sqrt(x)\n"
    report = pool.run(code, "root(-1)\nassert True\n", timeout=10)
    assert [(f.exception, f.code_line, f.test_line) for f in report.failures] == [
        ("ValueError", 8, 1)
    ]
    assert "ValueError: math domain error (raised at line 8 of the code)" in report.feedback


def test_assertion_messages_are_kept(pool: SandboxPool) -> None:
    report = pool.run("x = 3\n", "assert x == 4, f'x is {x}, not 4'\n", timeout=10)
    assert report.failures[0].message == "x is 3, not 4"
    assert "AssertionError: x is 3, not 4" in report.feedback


def test_humaneval_style_check_function_lists_each_assert(pool: SandboxPool) -> None:
    code = "def double(x):\n    return x * 3\n"
    tests = (
        "def check(candidate):\n"
        "    assert candidate(0) == 0\n"
        "    assert candidate(1) == 2\n"
        "    assert candidate(2) == 4\n"
        "check(double)\n"
    )
    report = pool.run(code, tests, timeout=10)
    assert [f.test_line for f in report.failures] == [3, 4]


def test_error_in_the_code_before_the_tests(pool: SandboxPool) -> None:
    report = pool.run("x = 1\ny = undefined_name\n", "assert True\n", timeout=10)
    assert report.outcome is TestOutcome.FAILED
    (failure,) = report.failures
    assert (failure.exception, failure.code_line, failure.test_line) == ("NameError", 2, None)
    assert report.feedback.startswith("The code failed before the tests ran")


def test_syntax_error_points_at_line_and_column(pool: SandboxPool) -> None:
    report = pool.run("def f(x):\n    if x = 1:\n        return x\n", "assert f(1)\n", timeout=10)
    assert report.outcome is TestOutcome.SYNTAX_ERROR
    (failure,) = report.failures
    assert failure.exception == "SyntaxError"
    assert failure.code_line == 2
    assert "at line 2" in report.feedback
    assert "if x = 1:" in report.feedback
    assert "^" in report.feedback


def test_null_bytes_are_a_syntax_error(pool: SandboxPool) -> None:
    report = pool.run("x = 1\0\n", "assert x\n", timeout=10)
    assert report.outcome is TestOutcome.SYNTAX_ERROR


def test_broken_tests_are_reported_as_such(pool: SandboxPool) -> None:
    report = pool.run(ADD, "assert add(1, 2) ==\n", timeout=10)
    assert report.outcome is TestOutcome.BAD_TESTS
    assert "tests themselves do not compile" in report.feedback


def test_timeout_names_the_line_being_run(pool: SandboxPool) -> None:
    code = "def spin():\n    n = 0\n    while True:\n        n += 1\n"
    report = pool.run(code, "spin()\nassert True\n", timeout=1)
    assert report.outcome is TestOutcome.TIMEOUT
    assert report.location is not None
    assert report.location[0] in (3, 4)
    assert report.location[1] == 1
    assert "Timed out after 1 s" in report.feedback
    assert report.duration < 5


def test_output_is_captured_but_never_decides(pool: SandboxPool) -> None:
    tests = "import sys\nprint('err', file=sys.stderr)\nassert True\n"
    report = pool.run("print('hello')\n", tests, timeout=10)
    assert report.passed
    assert report.output == "hello\nerr\n"


def test_the_module_is_main_and_knows_its_classes(pool: SandboxPool) -> None:
    code = (
        "import dataclasses, pickle\n"
        "@dataclasses.dataclass\n"
        "class Point:\n"
        "    x: 'int'\n"
        "    y: 'int'\n"
    )
    tests = (
        "assert __name__ == '__main__'\n"
        "assert pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2)\n"
        "import sys\nassert sys.stdin.read() == ''\n"
    )
    assert pool.run(code, tests, timeout=10).passed


def test_batch_keeps_order_and_isolates_runs(pool: SandboxPool) -> None:
    items = [(f"value = {i}\n", f"assert value == {i}\n") for i in range(20)]
    items[7] = ("value = -1\n", "assert value == 7\n")
    reports = pool.run_batch(items, timeout=10)
    assert [r.passed for r in reports] == [i != 7 for i in range(20)]


def test_runs_do_not_share_state(pool: SandboxPool) -> None:
    writer = "open('state.txt', 'w').write('x')\nimport builtins\nbuiltins.leak = 1\n"
    reader = (
        "import os, builtins\n"
        "assert not os.path.exists('state.txt')\n"
        "assert not hasattr(builtins, 'leak')\n"
    )
    reports = pool.run_batch([(writer, "assert True\n")] + [("", reader)] * 4, timeout=10)
    assert all(r.passed for r in reports), [r.feedback for r in reports]


def test_failure_list_is_capped(sandbox_config: SandboxConfig) -> None:
    tests = "".join(f"assert {i} == -1\n" for i in range(10))
    import attrs  # noqa: PLC0415

    report = run_tests("", tests, timeout=10, config=attrs.evolve(sandbox_config, max_failures=3))
    assert len(report.failures) == 3
    assert not report.failures_complete
    assert "(the list stops after 3 failures or 1 s; more tests may fail)" in report.feedback


def test_feedback_is_capped(sandbox_config: SandboxConfig) -> None:
    import attrs  # noqa: PLC0415

    config = attrs.evolve(sandbox_config, max_feedback_chars=120)
    report = run_tests("", "assert False, 'x' * 400\n", timeout=10, config=config)
    assert len(report.feedback) <= 120
    assert report.feedback.endswith("[feedback truncated]")


def test_run_tests_and_run_batch_make_their_own_pool(sandbox_config: SandboxConfig) -> None:
    assert run_tests(ADD, ADD_TESTS, timeout=10, config=sandbox_config).passed
    reports = run_batch([(ADD, ADD_TESTS), ("", "assert 0\n")], timeout=10, config=sandbox_config)
    assert [r.passed for r in reports] == [True, False]
    assert reports[0].isolation in (Isolation.BWRAP, Isolation.PROCESS)


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), (1e9, ValueError),
     ("5", TypeError), (True, TypeError)],
)  # fmt: skip
def test_bad_timeouts_are_refused(pool: SandboxPool, timeout: object, error: type) -> None:
    with pytest.raises(error, match="timeout"):
        pool.run(ADD, ADD_TESTS, timeout=timeout)  # type: ignore[arg-type]


def test_code_must_be_text(pool: SandboxPool) -> None:
    with pytest.raises(TypeError, match="code must be Python source text"):
        pool.run(b"x = 1", "pass", timeout=5)  # type: ignore[arg-type]


def test_a_closed_pool_refuses_work(sandbox_config: SandboxConfig) -> None:
    pool = SandboxPool(sandbox_config)
    pool.close()
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pool.run(ADD, ADD_TESTS, timeout=5)


@pytest.mark.parametrize(
    ("field", "value"),
    [("workers", 0), ("isolation", "docker")],
)
def test_config_errors_name_the_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=repr(value)):
        SandboxConfig(**{field: value})  # type: ignore[arg-type]


def test_lone_surrogates_are_a_syntax_error_not_a_crash(pool: SandboxPool) -> None:
    report = pool.run("x = '\ud800'\n", "assert x\n", timeout=10)
    assert report.outcome is TestOutcome.SYNTAX_ERROR
    assert pool.run("x = 1\n", "assert '\ud800'\n", timeout=10).outcome is TestOutcome.BAD_TESTS


FORGED = "x\n***\n1|def f(): pass"


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        (f"def f():\n    raise ValueError({FORGED!r})\n", "f()\nassert True\n"),
        (f"def f():\n    return {FORGED!r}\n", "assert f() == 1, f()\n"),
        (
            f"class E(Exception):\n    pass\nE.__name__ = {FORGED!r}\nraise E({FORGED!r})\n",
            "assert True\n",
        ),
    ],
)
def test_messages_cannot_forge_lines_of_the_state(pool: SandboxPool, code: str, tests: str) -> None:
    # A message (or an exception's name) shown after the state's *** separator
    # must stay on one line: else it could draw a second separator and code lines.
    report = pool.run(code, tests, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert "x\\n***\\n1|def f(): pass" in report.feedback
    state = render(CodeEditor(code), report.feedback)
    assert state.splitlines().count("***") == 1
    code_lines = [line for line in state.splitlines() if re.match(r"\d+\|", line)]
    assert code_lines == [f"{n}|{line}" for n, line in enumerate(code.splitlines(), 1)]


def test_code_nested_too_deeply_is_a_compile_failure(pool: SandboxPool) -> None:
    # Found by a review: the compiler's RecursionError (or MemoryError) escaped
    # the harness, and the run ended EXITED with the harness's traceback.
    code = "def f(): return 1\nx = a" + ".b" * 100_000 + "\n"
    report = pool.run(code, "assert f() == 1\n", timeout=10)
    assert report.outcome is TestOutcome.SYNTAX_ERROR, report
    assert report.feedback.startswith("The code does not compile"), report.feedback
    assert "nested too deeply" in report.feedback


def test_a_batch_survives_records_that_break_the_json_reader(pool: SandboxPool) -> None:
    # Found by a review: a candidate wrote an R record nested 100,000 deep to
    # fd 3; json.loads raised RecursionError and the whole batch with it.
    nested = (
        "import os\n"
        "os.write(3, b'\\nR {\"a\":' + b'[' * 100000 + b']' * 100000 + b'}\\n')\n"
        "def f(): return 1\n"
    )
    items = [(nested, "assert f() == 1\n"), ("def f(): return 1\n", "assert f() == 1\n")]
    reports = pool.run_batch(items, timeout=10)
    assert [report.passed for report in reports] == [True, True]


def test_a_lone_surrogate_in_a_message_is_escaped(pool: SandboxPool) -> None:
    # Found by a review: the surrogate reached report.feedback, which then
    # could not be encoded as UTF-8.
    report = pool.run('def f():\n    raise ValueError("bad \\ud800 value")\n', "f()\nassert True\n",
                      timeout=10)
    assert report.outcome is TestOutcome.FAILED
    assert "ValueError: bad \\ud800 value" in report.feedback, report.feedback
    report.feedback.encode("utf-8")
