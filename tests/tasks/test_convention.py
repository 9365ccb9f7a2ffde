"""The tests' ``check`` under a reserved name: it never shadows the candidate's ``check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.tasks import CHECK_FUNCTION, DatasetFormatError, load_humanevalfix, load_mbpp
from toolthink.tasks.convention import reserve_check_name
from toolthink.tool import SandboxPool

HUMANEVAL_TESTS = """

METADATA = {}


def check(candidate):
    assert candidate(70) == False
    assert candidate(73) == True  # check: 73 is one less than twice 37
"""

CANDIDATE_NAMED_CHECK = '''def check(n):
    """check(73) is True."""
    return 2 * int(str(n)[::-1]) == n + 1
'''


def test_the_definition_and_each_use_are_renamed_and_nothing_else() -> None:
    tests = HUMANEVAL_TESTS + 'check(check)\nassert "check" == "check"\n'
    renamed = reserve_check_name(tests, "x/1")
    assert f"def {CHECK_FUNCTION}(candidate):" in renamed
    assert f"{CHECK_FUNCTION}(check)" not in renamed  # the argument is a use too
    assert f"{CHECK_FUNCTION}({CHECK_FUNCTION})" in renamed
    assert "# check: 73" in renamed  # comments and strings are kept
    assert 'assert "check" == "check"' in renamed
    assert "def check" not in renamed


@pytest.mark.parametrize(
    ("tests", "error"),
    [
        ("assert f(1) == 1\n", r"x/1: the tests define 0 module-level `check`"),
        (HUMANEVAL_TESTS + HUMANEVAL_TESTS, r"define 2 module-level `check`"),
        (HUMANEVAL_TESTS + "assert obj.check()\n", r"an attribute, keyword, parameter"),
        (HUMANEVAL_TESTS + "f(check=1)\n", r"an attribute, keyword, parameter"),
        (HUMANEVAL_TESTS + "def g(check):\n    return check\n", r"keyword, parameter"),
        (HUMANEVAL_TESTS + 'assert f"{check}"\n', r"f-string"),
        (HUMANEVAL_TESTS + f"{CHECK_FUNCTION} = 1\n", r"already use the reserved name"),
        ("def check(:\n", r"x/1: the tests are not valid Python"),
    ],
)
def test_forms_a_rename_could_change_are_refused(tests: str, error: str) -> None:
    with pytest.raises(DatasetFormatError, match=error):
        reserve_check_name(tests, "x/1")


def test_a_candidate_named_check_passes(sandbox_pool: SandboxPool) -> None:
    tests = reserve_check_name(HUMANEVAL_TESTS, "x/1") + f"{CHECK_FUNCTION}(check)\n"
    report = sandbox_pool.run(CANDIDATE_NAMED_CHECK, tests, timeout=10.0)
    assert report.passed, report.feedback
    wrong = CANDIDATE_NAMED_CHECK.replace("n + 1", "n - 1")
    assert not sandbox_pool.run(wrong, tests, timeout=10.0).passed


@pytest.mark.parametrize("task_id", ["MBPP/56", "MBPP/349", "MBPP/899", "MBPP/967"])
def test_mbpp_references_named_check_pass(
    sandbox_pool: SandboxPool, data_dir: Path, task_id: str
) -> None:
    problem = next(p for p in load_mbpp(data_dir) if p.task_id == task_id)
    assert problem.entry_point == "check"
    report = sandbox_pool.run(problem.solution, problem.tests, timeout=30.0)
    assert report.passed, report.feedback


def test_no_benchmark_tests_keep_a_check_function(data_dir: Path) -> None:
    tests = [t.tests for t in load_humanevalfix(data_dir)]
    tests += [p.tests for p in load_mbpp(data_dir, include_broken=True)]
    assert len(tests) == 164 + 974
    assert not [t for t in tests if "def check(" in t or "\ncheck(" in t]
