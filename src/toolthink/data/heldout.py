"""Held-out repair tasks: one verified synthetic bug per problem of an evaluation split.

`synthetic_tasks` corrupts each correct program (`toolthink.data.corruption.corrupt`,
the edit kinds of demonstrations, `toolthink.data.demos.ALL_KINDS`), seeded per
problem from ``(seed, task_id)``, and keeps a bug only if the buggy program
fails its tests in the sandbox, as `toolthink.data.demos` verifies
demonstrations. `embedded_test_tasks` applies it to the ``test`` split of the
embedded corpus (`toolthink.data.demos.split_of`): the tasks of
``toolthink eval --dataset embedded`` and of the SFT evaluation hook
(`toolthink.training.sft_eval`), which therefore score the same problems with
the same bugs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from toolthink.data.corruption import corrupt, normalize_newlines
from toolthink.data.demos import ALL_KINDS, split_of
from toolthink.tasks import Problem, RepairTask, load_embedded_corpus
from toolthink.tool import SandboxPool

__all__ = ["SYNTHETIC_NOTE", "embedded_test_tasks", "synthetic_tasks"]

SYNTHETIC_NOTE = "synthetic bug: "
"""Prefix of a synthetic task's provenance notes; the edit kinds follow."""


def synthetic_tasks(
    problems: Sequence[Problem],
    pool: SandboxPool,
    *,
    donors: Sequence[Problem] = (),
    seed: int = 0,
    max_edits: int = 5,
    timeout: float = 5.0,
) -> list[RepairTask]:
    """One verified synthetic bug per problem (problems with none are dropped).

    Args:
        problems: Correct programs with tests.
        donors: Programs whose lines the donor-line edits draw from (default:
            ``problems``); pass the whole split so a bug does not depend on
            which other problems are evaluated.
        pool: Sandbox that checks each buggy program fails.
        seed: With the task id, seeds each problem's generator.
        max_edits: Most corrupting edits per bug (1 to this many, paper: 5).
        timeout: Seconds per test run.

    Returns:
        Tasks whose buggy code fails its tests, in problem order.
    """
    pool_lines = [(p.task_id, line) for p in (donors or problems)
                  for line in normalize_newlines(p.solution).split("\n") if line.strip()]
    candidates: list[RepairTask] = []
    for problem in problems:
        rng = random.Random(f"eval:{seed}:{problem.task_id}")
        lines = [line for task_id, line in rng.sample(pool_lines, min(200, len(pool_lines)))
                 if task_id != problem.task_id]
        result = corrupt(problem.solution, rng, donors=lines, edits=rng.randint(1, max_edits),
                         kinds=ALL_KINDS)
        if result is None:
            continue
        task = problem.with_bug(result.corrupted, notes=SYNTHETIC_NOTE + ", ".join(result.kinds))
        candidates.append(attrs.evolve(task, reference=result.original))
    reports = pool.run_batch([(t.buggy_code, t.tests) for t in candidates], timeout=timeout)
    return [t for t, report in zip(candidates, reports, strict=True) if not report.passed]


def embedded_test_tasks(
    pool: SandboxPool, *, limit: int | None = None, seed: int = 0, timeout: float = 5.0
) -> list[RepairTask]:
    """Synthetic bugs in the held-out (``test``) problems of the embedded corpus.

    Args:
        pool: Sandbox that checks each buggy program fails.
        limit: Use the first ``limit`` test problems (None: all); problems whose
            bug passes its tests are dropped, so fewer tasks may come back.
        seed: Seed of the bugs.
        timeout: Seconds per test run.

    Returns:
        Tasks in corpus order.
    """
    problems = [p for p in load_embedded_corpus() if split_of(p.task_id) == "test"]
    return synthetic_tasks(problems[:limit], pool, donors=problems, seed=seed, timeout=timeout)
