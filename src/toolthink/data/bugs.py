"""Synthetic bugs: the one maker behind demonstrations, RL tasks and the held-out set.

`draw_bugs` corrupts each correct program (`toolthink.data.corruption.corrupt`)
with a generator seeded from ``(seed, task_id)``, so a problem's bugs do not
depend on which other problems are drawn; donor lines (for the donor-line
edits) are a sample of 200 lines of the other programs. `failing_tasks` keeps
the bugs whose buggy program fails its tests in the sandbox: a bug that passes
leaves nothing to repair.

Its users differ only in their arguments: demonstrations
(`toolthink.data.demos`: every kind, 1 to 5 edits, then a replay check), the
held-out set (`toolthink.data.heldout`: seed ``eval:<seed>``, one bug per
problem), RL's easy curriculum (`toolthink.training.rl.easy_tasks`: line edits
only, a fixed number of edits) and the benchmarks' and tests' unverified bugs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from toolthink.data.corruption import Corruption, corrupt, normalize_newlines
from toolthink.tasks import BugKind, Problem, RepairTask
from toolthink.tool import SandboxPool

__all__ = ["DONOR_SAMPLE", "Bug", "draw_bugs", "failing_tasks"]

DONOR_SAMPLE = 200
"""Donor lines sampled (from every program) for each bug; the problem's own are then dropped."""


@attrs.frozen
class Bug:
    """A corrupted program, the problem it came from, and which draw of that problem it is.

    Attributes:
        problem: The correct program.
        index: The 0-based draw of ``problem`` (of ``per_problem``).
        corruption: The corrupted program and the edits that made it.
    """

    problem: Problem
    index: int
    corruption: Corruption

    def task(self) -> RepairTask:
        """The repair task: the corrupted program, its kinds and edits, the original as fix."""
        task = self.problem.with_bug(self.corruption.corrupted, bug_kinds=self.corruption.kinds,
                                     n_edits=len(self.corruption.edits))
        return attrs.evolve(task, reference=self.corruption.original)


def draw_bugs(
    problems: Sequence[Problem],
    *,
    seed: int | str,
    donors: Sequence[Problem] = (),
    per_problem: int = 1,
    min_edits: int = 1,
    max_edits: int = 5,
    kinds: Sequence[str] = tuple(BugKind),
    on_reject: Callable[[str], None] | None = None,
) -> Iterator[Bug]:
    """Draw ``per_problem`` bugs for each problem, in problem order (none are run).

    Args:
        problems: Correct programs.
        seed: With the task id, seeds each problem's generator (``f"{seed}:{task_id}"``).
        donors: Programs whose lines the donor-line edits draw from (default:
            ``problems``); pass a whole split so a bug does not depend on
            which other problems are drawn.
        per_problem: Draws per problem; a draw equal to an earlier one of the
            same problem is dropped.
        min_edits: Fewest corrupting edits per bug.
        max_edits: Most corrupting edits per bug (paper: 1 to 5).
        kinds: Edit kinds drawn from (`toolthink.tasks.BugKind` names).
        on_reject: Called with ``"no corruption"`` or ``"duplicate"`` for each
            draw dropped.

    Yields:
        The bugs, each problem's in draw order.
    """
    pool = [(p.task_id, line) for p in (donors or problems)
            for line in normalize_newlines(p.solution).split("\n") if line.strip()]
    for problem in problems:
        rng = random.Random(f"{seed}:{problem.task_id}")
        seen: set[str] = set()
        for index in range(per_problem):
            lines = [line for task_id, line in rng.sample(pool, min(DONOR_SAMPLE, len(pool)))
                     if task_id != problem.task_id]
            edits = rng.randint(min_edits, max_edits)
            result = corrupt(problem.solution, rng, donors=lines, edits=edits, kinds=kinds)
            reason = ("no corruption" if result is None
                      else "duplicate" if result.corrupted in seen else None)
            if reason is not None:
                if on_reject is not None:
                    on_reject(reason)
                continue
            assert result is not None
            seen.add(result.corrupted)
            yield Bug(problem, index, result)


def failing_tasks(bugs: Iterable[Bug], pool: SandboxPool, *, timeout: float = 5.0
                  ) -> list[RepairTask]:
    """The tasks of the bugs whose buggy program fails its tests (one sandbox batch).

    Args:
        bugs: From `draw_bugs`.
        pool: Runs each buggy program's tests once.
        timeout: Seconds per test run.

    Returns:
        Tasks in the order of ``bugs``, those that pass dropped.
    """
    tasks = [bug.task() for bug in bugs]
    reports = pool.run_batch([(t.buggy_code, t.tests) for t in tasks], timeout=timeout)
    return [t for t, report in zip(tasks, reports, strict=True) if not report.passed]
