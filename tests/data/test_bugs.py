"""The one synthetic-bug maker: deterministic per problem, typed kinds, only failing bugs kept."""

from __future__ import annotations

from toolthink.data.bugs import draw_bugs, failing_tasks
from toolthink.tasks import BugKind, load_embedded_corpus
from toolthink.tasks.bug_kinds import LINE_EDITS
from toolthink.tool import SandboxPool


def test_a_problems_bugs_do_not_depend_on_the_others() -> None:
    problems = load_embedded_corpus()
    alone = list(draw_bugs(problems[3:4], seed=7, donors=problems, per_problem=3))
    among = [b for b in draw_bugs(problems, seed=7, per_problem=3)
             if b.problem.task_id == problems[3].task_id]
    assert alone == among
    assert alone != list(draw_bugs(problems[3:4], seed=8, donors=problems, per_problem=3))


def test_bugs_carry_their_kinds_and_edits() -> None:
    rejected: list[str] = []
    bugs = list(draw_bugs(load_embedded_corpus()[:10], seed=0, per_problem=4, min_edits=2,
                          max_edits=3, kinds=LINE_EDITS, on_reject=rejected.append))
    assert bugs
    assert set(rejected) <= {"no corruption", "duplicate"}
    for bug in bugs:
        task = bug.task()
        assert 2 <= task.n_edits <= 3
        assert task.provenance.bug_kinds == bug.corruption.kinds
        assert all(isinstance(k, BugKind) and k in LINE_EDITS for k in task.provenance.bug_kinds)
        assert task.reference == bug.corruption.original != task.buggy_code
    assert len({(b.problem.task_id, b.corruption.corrupted) for b in bugs}) == len(bugs)


def test_failing_tasks_keeps_exactly_the_bugs_that_fail(sandbox_pool: SandboxPool) -> None:
    bugs = list(draw_bugs(load_embedded_corpus()[:6], seed=0, max_edits=1, per_problem=3))
    every = [bug.task() for bug in bugs]
    reports = sandbox_pool.run_batch([(t.buggy_code, t.tests) for t in every], timeout=5.0)
    kept = failing_tasks(bugs, sandbox_pool)
    assert kept
    assert kept == [t for t, r in zip(every, reports, strict=True) if not r.passed]
