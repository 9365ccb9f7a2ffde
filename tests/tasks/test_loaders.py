"""The benchmark loaders: counts, fields, the QuixBugs conversion, errors that help."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from toolthink.tasks import (
    CHECK_FUNCTION,
    MBPP_KNOWN_BROKEN,
    DatasetFormatError,
    DatasetNotFoundError,
    Problem,
    RepairTask,
    load_humanevalfix,
    load_mbpp,
    load_quixbugs,
)
from toolthink.tasks.bug_kinds import SEMANTIC_KINDS, BugKind


def test_humanevalfix(data_dir: Path) -> None:
    tasks = load_humanevalfix(data_dir)
    assert len(tasks) == 164
    assert len({t.task_id for t in tasks}) == 164
    first = tasks[0]
    assert first.task_id == "HumanEvalFix/Python/0"
    assert first.entry_point == "has_close_elements"
    assert first.buggy_code.startswith("from typing import List")
    assert first.buggy_code != first.reference
    assert first.tests.rstrip().endswith(f"{CHECK_FUNCTION}(has_close_elements)")
    assert f"def {CHECK_FUNCTION}(has_close_elements):" in first.tests
    assert first.problem.startswith("Check if in given list of numbers")
    assert first.provenance.license == "MIT"
    assert first.provenance.bug_kinds == (BugKind.MISSING_LOGIC,)
    assert "bug type" not in first.provenance.notes  # kinds are typed fields, not text
    assert {kind for t in tasks for kind in t.provenance.bug_kinds} == set(SEMANTIC_KINDS)
    for task in tasks:
        ast.parse(task.buggy_code)
        ast.parse(task.tests)


def test_quixbugs(data_dir: Path) -> None:
    tasks = {t.provenance.item: t for t in load_quixbugs(data_dir)}
    assert len(tasks) == 40
    for name, task in tasks.items():
        assert task.task_id == f"QuixBugs/{name}"
        assert "pytest" not in task.tests
        assert task.problem  # the docstring that followed the buggy function
        assert '"""' not in task.buggy_code.rstrip()[-3:]
        tree = ast.parse(task.buggy_code)
        assert any(isinstance(n, ast.FunctionDef) and n.name == task.entry_point for n in tree.body)
        ast.parse(task.tests)
    bitcount = tasks["bitcount"].tests.splitlines()
    assert "assert bitcount(127) == 7" in bitcount
    assert "assert list(flatten(" in tasks["flatten"].tests
    assert "assert hanoi(2, 1, 3) == [(1, 2), (1, 3), (2, 3)]" in tasks["hanoi"].tests.splitlines()
    assert "assert abs(sqrt(2, 0.01) - 1.4166666666666665) <= 0.01" in tasks["sqrt"].tests
    assert tasks["bitcount"].problem.startswith("Bitcount")


def test_quixbugs_keeps_every_json_case_but_the_two_upstream_skips(data_dir: Path) -> None:
    tasks = load_quixbugs(data_dir)
    asserts = sum(t.tests.count("\nassert ") for t in tasks if "JSON test cases" in t.tests)
    assert asserts == 242 - 2
    skipped = {t.provenance.item for t in tasks if "skipped" in t.provenance.notes}
    assert skipped == {"knapsack", "levenshtein"}


def test_quixbugs_graph_programs_call_each_test(data_dir: Path) -> None:
    graph = [t for t in load_quixbugs(data_dir) if "node.py" in t.tests]
    assert len(graph) == 9
    for task in graph:
        tree = ast.parse(task.tests)
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        called = [
            n.value.func.id
            for n in tree.body
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Name)
        ]  # fmt: skip
        assert defined, task.task_id
        assert called == defined, task.task_id


def test_mbpp(data_dir: Path) -> None:
    problems = load_mbpp(data_dir)
    assert len(problems) == 963
    assert not {p.task_id for p in problems} & MBPP_KNOWN_BROKEN
    everything = load_mbpp(data_dir, include_broken=True)
    assert len(everything) == 974
    assert {p.task_id for p in everything} >= MBPP_KNOWN_BROKEN
    first = everything[0]
    assert isinstance(first, Problem)
    assert first.task_id == "MBPP/1"
    assert first.tests.rstrip().endswith(f"{CHECK_FUNCTION}({first.entry_point})")
    assert first.provenance.license == "CC-BY-4.0"


def test_a_problem_becomes_a_repair_task() -> None:
    from toolthink.tasks import Provenance  # noqa: PLC0415

    problem = Problem("x/1", "Add.", "def f(a, b):\n    return a + b\n", "assert f(1, 2) == 3\n",
                      "f", Provenance("x", "1", "MIT", "here", "n"))  # fmt: skip
    task = problem.with_bug("def f(a, b):\n    return a - b\n", notes="operator swap")
    assert isinstance(task, RepairTask)
    assert task.reference == problem.solution
    assert task.provenance.notes == "n; operator swap"


def test_a_missing_folder_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"humanevalpack/humanevalpack_python\.jsonl"):
        load_humanevalfix(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"\.\./shared/data"):
        load_mbpp(tmp_path)


def test_a_malformed_file_names_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "humanevalpack"
    folder.mkdir()
    (folder / "humanevalpack_python.jsonl").write_text(json.dumps({"task_id": "x"}) + "\n{oops\n")
    with pytest.raises(DatasetFormatError, match=r"humanevalpack_python.jsonl:1 lacks"):
        load_humanevalfix(tmp_path)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "humanevalpack"
    folder.mkdir()
    (folder / "humanevalpack_python.jsonl").write_bytes(b'\n{"task_id": "\xe9"}\n')
    with pytest.raises(DatasetFormatError,
                       match=r"HumanEvalFix: .*humanevalpack_python.jsonl:2 is not UTF-8"):
        load_humanevalfix(tmp_path)
