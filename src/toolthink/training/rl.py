"""The RL tasks: synthetic bugs of the easy curriculum (`easy_tasks`).

Multi-turn GRPO itself: `toolthink.training.rl_rollout` (the episodes of a
step, TRL's ``rollout_func``) and `toolthink.training.rl_trainer` (the
trainer: per-turn advantages, the masked log-prob pass); docs/rl.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolthink.data.bugs import draw_bugs, failing_tasks
from toolthink.tasks import Problem, RepairTask
from toolthink.tasks.bug_kinds import LINE_EDITS
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
    edits), drawn by the maker demonstrations and evaluation use
    (`toolthink.data.bugs.draw_bugs`).

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
    bugs = draw_bugs(problems, seed=seed, per_problem=per_problem, min_edits=edits,
                     max_edits=edits, kinds=LINE_EDITS)
    return failing_tasks(bugs, sandbox, timeout=timeout)
