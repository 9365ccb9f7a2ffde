"""Evaluation sets: held-out synthetic bugs that fail, bug kinds from provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.evaluation.datasets import bug_kind, load_eval_tasks
from toolthink.tasks import BugKind, Provenance, RepairTask
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool


def task_with(notes: str, kinds: tuple[str, ...] = ()) -> RepairTask:
    return RepairTask("x/1", "", "", "", "f", None,
                      Provenance("x", "1", "MIT", "", notes, bug_kinds=kinds), n_edits=len(kinds))


@pytest.mark.parametrize(("notes", "kinds", "kind"), [
    ("symptom: incorrect output", (BugKind.VALUE_MISUSE,), "value misuse"),
    ("bug type: value misuse; symptom: incorrect output", (), None),  # text is never parsed
    ("", ("off-by-one",), "off-by-one"),  # a user's own kind
    ("", ("token swap",), "token swap"),
    ("", ("token swap", "token swap"), "token swap"),
    ("", ("token swap", "delete line"), "mixed"),
    ("upstream note; synthetic bug: typo", ("typo",), "typo"),
    ("synthetic bug: typo", (), None),  # kinds are typed fields, never read back from text
    ("", (), None),
    ("1 case(s) skipped as upstream skips them", (), None),
])
def test_bug_kind(notes: str, kinds: tuple[str, ...], kind: str | None) -> None:
    assert bug_kind(task_with(notes, kinds)) == kind


def test_embedded_held_out_bugs_fail_and_are_deterministic(sandbox_pool: SandboxPool) -> None:
    tasks = load_eval_tasks("embedded", None, sandbox_pool)
    assert tasks
    assert all(split_of(t.task_id) == "test" for t in tasks)
    assert all(bug_kind(t) is not None for t in tasks)
    reports = sandbox_pool.run_batch([(t.buggy_code, t.tests) for t in tasks], timeout=5.0)
    assert not any(r.passed for r in reports)
    again = load_eval_tasks("embedded", None, sandbox_pool, limit=3)
    assert [t.buggy_code for t in again] == [t.buggy_code for t in tasks[: len(again)]]


def test_needs_a_data_dir_and_a_known_name(sandbox_pool: SandboxPool) -> None:
    with pytest.raises(ValueError, match="needs a data folder"):
        load_eval_tasks("quixbugs", None, sandbox_pool)
    with pytest.raises(ValueError, match="choose one of"):
        load_eval_tasks("nope", None, sandbox_pool)


def test_humanevalfix_has_bug_kinds(sandbox_pool: SandboxPool, data_dir: Path) -> None:
    tasks = load_eval_tasks("humanevalfix", data_dir, sandbox_pool, limit=5)
    assert len(tasks) == 5
    assert all(bug_kind(t) for t in tasks)
    quix = load_eval_tasks("quixbugs", data_dir, sandbox_pool, limit=2)
    assert len(quix) == 2
    mbpp = load_eval_tasks("mbpp-synthetic", data_dir, sandbox_pool, limit=3)
    assert mbpp
    assert all(split_of(t.task_id) == "test" and bug_kind(t) for t in mbpp)
