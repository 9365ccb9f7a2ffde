"""The RL tasks: synthetic bugs of the easy curriculum (`easy_tasks`).

Multi-turn GRPO itself: `toolthink.training.rl_rollout` (the episodes of a
step, TRL's ``rollout_func``) and `toolthink.training.rl_trainer` (the
trainer: per-turn advantages, the masked log-prob pass); docs/rl.md.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from toolthink.data.corruption import corrupt, normalize_newlines
from toolthink.tasks import Problem, RepairTask
from toolthink.tool import SandboxPool

__all__ = ["easy_tasks"]


def easy_tasks(
    problems: Sequence[Problem],
    sandbox: SandboxPool,
    *,
    edits: int = 1,
    per_problem: int = 2,
    seed: int = 0,
    timeout: float = 5.0,
) -> list[RepairTask]:
    """Synthetic bugs with ``edits`` edits each, kept only when their tests fail.

    The easy curriculum is ``edits=1``: one corrupted line (the paper's line
    edits, `toolthink.data.corruption`).

    Args:
        problems: Correct programs with tests (e.g. the embedded corpus).
        sandbox: Runs each candidate's tests once.
        edits: Edits per bug.
        per_problem: Bugs drawn per problem (duplicates dropped).
        seed: Random seed; the same seed gives the same tasks.
        timeout: Seconds per test run.

    Returns:
        Tasks whose buggy code fails its tests, in problem order.
    """
    donors = [line for p in problems
              for line in normalize_newlines(p.solution).split("\n") if line.strip()]
    candidates: list[RepairTask] = []
    for problem in problems:
        rng = random.Random(f"{seed}:{problem.task_id}")
        seen: set[str] = set()
        for _ in range(per_problem):
            result = corrupt(problem.solution, rng, donors=donors, edits=edits)
            if result is None or result.corrupted in seen:
                continue
            seen.add(result.corrupted)
            notes = "synthetic bug: " + ", ".join(result.kinds)
            candidates.append(problem.with_bug(result.corrupted, notes=notes))
    reports = sandbox.run_batch([(t.buggy_code, t.tests) for t in candidates], timeout=timeout)
    return [t for t, r in zip(candidates, reports, strict=True) if not r.passed]
