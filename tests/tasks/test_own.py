"""A user's own tasks file: the schema, line-numbered errors, and the shipped example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from toolthink.evaluation.datasets import bug_kind
from toolthink.tasks.own import TaskFileError, check_in_sandbox, load_own_tasks
from toolthink.tool import SandboxPool

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tasks.jsonl"

GOOD = {"id": "inc", "buggy_code": "def inc(x):\n    return x + 2\n",
        "tests": "assert inc(1) == 2\n"}


def _write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines))
    return path


def test_the_example_loads_and_every_buggy_program_fails_its_tests(
    sandbox_pool: SandboxPool,
) -> None:
    tasks = load_own_tasks(EXAMPLE)
    assert len(tasks) == 5
    assert [t.line for t in tasks] == [1, 2, 3, 4, 5]
    check_in_sandbox(tasks, sandbox_pool, timeout=5.0)  # raises if one passes already
    reports = sandbox_pool.run_batch([(t.task.buggy_code, t.task.tests) for t in tasks],
                                     timeout=5.0)
    assert not any(r.passed for r in reports)
    assert {bug_kind(t.task) for t in tasks} == {"wrong value", "missing case", "off-by-one"}


def test_optional_fields_default_and_the_id_is_kept(tmp_path: Path) -> None:
    (own,) = load_own_tasks(_write(tmp_path, "", GOOD))
    assert own.line == 2  # blank lines count
    assert own.task.task_id == "inc"
    assert own.task.problem == ""
    assert own.task.reference is None
    assert bug_kind(own.task) is None


@pytest.mark.parametrize(("lines", "message"), [
    (["{oops"], r"mine.jsonl:1 is not JSON"),
    (["[1]"], r"mine.jsonl:1 is a JSON list, not a JSON object"),
    ([GOOD, {"id": "x", "tests": "assert 1"}],
     r"mine.jsonl:2 field 'buggy_code' must be a non-empty string, got missing"),
    ([{**GOOD, "tests": 3}], r":1 field 'tests' must be a non-empty string, got int 3"),
    ([{**GOOD, "problem": ["a"]}], r":1 field 'problem' must be a string, got list"),
    ([{**GOOD, "bugy_code": "x"}], r":1 has unknown fields \['bugy_code'\]: the fields are id, "
     r"buggy_code, tests \(required\)"),
    ([{**GOOD, "tests": "assert inc(1) ==\n"}], r":1 \(id 'inc'\): the tests do not compile at "
     r"line 1 of the tests \(invalid syntax\): fix the 'tests' field"),
    ([GOOD, "", GOOD], r":3 repeats the id 'inc' of line 1: give every task its own id"),
    ([{**GOOD, "bug_kind": "a;b"}], r":1 \(id 'inc'\): bug_kind 'a;b' must be one name"),
    (["", "  "], r":1 holds no task"),
])
def test_schema_errors_name_the_file_the_line_and_the_fix(
    tmp_path: Path, lines: list[object], message: str
) -> None:
    with pytest.raises(TaskFileError, match=message):
        load_own_tasks(_write(tmp_path, *lines))


@pytest.mark.parametrize(("task", "message"), [
    ({**GOOD, "buggy_code": "def inc(x):\n    return x + 1\n"},
     r"mine.jsonl:2 \(id 'inc'\): the buggy code already passes its tests"),
    ({**GOOD, "reference": "def inc(x):\n    return x\n"},
     r"mine.jsonl:2 \(id 'inc'\): the reference fails its tests \(failed: "),
])
def test_the_sandbox_check_names_the_line(
    tmp_path: Path, sandbox_pool: SandboxPool, task: dict[str, str], message: str
) -> None:
    tasks = load_own_tasks(_write(tmp_path, {**GOOD, "id": "ok"}, task))
    with pytest.raises(TaskFileError) as info:
        check_in_sandbox(tasks, sandbox_pool, timeout=5.0)
    assert re.search(message, str(info.value))
    assert info.value.line == 2
