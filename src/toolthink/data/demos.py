"""Verified Chain-of-Edits demonstrations, built from correct programs.

For each problem, `build_demos` corrupts the solution (`toolthink.data.bugs.draw_bugs`),
then keeps the demonstration only if it is verified:

1. the corrupted program fails at least one test in the sandbox;
2. replaying the trace through `toolthink.dsl.execute` rebuilds the correct
   program exactly, every command applied;
3. the rebuilt program passes the tests.

With ``DemoConfig.detours`` > 0, that share of the demonstrations gets one
wrong command, its feedback and the recovery inserted (`toolthink.data.detours`);
the wrong command's index is listed in the record's ``untrained`` and carries
no loss in SFT. The checks then also ask that the wrong command fail as it was
made to (rejected, or applied with the tests still failing).

The trace is replayed in `toolthink.env.RepairEnv`, the object RL and evaluation
use, so each demonstration holds the observations exactly as the model will see
them at inference (the state after each command, with test feedback). Rejected
candidates are counted by reason. Everything is deterministic for a seed: each
problem's random generator is seeded from ``(seed, task_id)``, so a problem's
demonstrations do not depend on which other problems are built.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from toolthink.data.bugs import Bug, draw_bugs
from toolthink.data.detours import Detour, add_detour
from toolthink.dsl import format_command
from toolthink.env import (
    EnvConfig,
    Observation,
    RepairEnv,
    StepStatus,
    TrainingFormat,
    step_all,
)
from toolthink.env.prompt import PROMPT_VERSION
from toolthink.tasks import BugKind, Problem
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool

__all__ = ["ALL_KINDS", "DemoConfig", "DemoSet", "build_demos"]

ALL_KINDS: tuple[BugKind, ...] = tuple(BugKind)
"""Every edit kind, in the order the generator draws from: the line edits, then the semantic."""

REJECTION_REASONS = (
    "no corruption",
    "duplicate",
    "corrupted code passes",
    "replay differs",
    "repaired code fails",
    "detour passes",
)


def _check_kinds(_: Any, __: Any, value: tuple[str, ...]) -> None:
    unknown = [k for k in value if k not in ALL_KINDS]
    if unknown or not value:
        msg = (f"kinds={value!r} has unknown or no edit kinds: choose from "
               f"{[str(k) for k in ALL_KINDS]}")
        raise ValueError(msg)


@attrs.frozen
class DemoConfig:
    """How demonstrations are built.

    Attributes:
        per_problem: Demonstrations attempted per problem.
        seed: Base seed; with the problem id it seeds each problem's generator.
        min_edits: Fewest corrupting edits (paper: 1).
        max_edits: Most corrupting edits (paper: 5).
        kinds: Edit kinds drawn from (default: the paper's line edits and the
            semantic bug kinds).
        order: ``"reversed"`` (the paper: undo the edits last-first) or
            ``"minimal"`` (one top-down line diff).
        env: Environment settings used to replay and render the traces.
        batch: Demonstrations replayed together (their test runs are batched).
        detours: Share of demonstrations (0 to 1) that get a wrong command and
            its recovery inserted (`toolthink.data.detours`; 0: the paper's
            demonstrations). Drawn per demonstration from ``(seed, id)``.
    """

    per_problem: int = 1
    seed: int = 0
    min_edits: int = 1
    max_edits: int = 5
    kinds: tuple[str, ...] = attrs.field(default=ALL_KINDS, converter=tuple, validator=_check_kinds)
    order: str = attrs.field(default="reversed")
    env: EnvConfig = attrs.field(factory=EnvConfig)
    batch: int = 64
    detours: float = attrs.field(default=0.0)

    @detours.validator
    def _check_detours(self, _: Any, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            msg = f"detours={value!r} is not a share: use a number from 0 to 1"
            raise ValueError(msg)

    @order.validator
    def _check_order(self, _: Any, value: str) -> None:
        if value not in ("reversed", "minimal"):
            msg = f"order={value!r} is not a trace order: use 'reversed' or 'minimal'"
            raise ValueError(msg)


@attrs.frozen
class DemoSet:
    """Built demonstrations and the count of rejected candidates by reason.

    Attributes:
        records: One dict per demonstration (schema in docs/data.md).
        rejected: Reason -> count.
        attempted: Candidates attempted.
    """

    records: tuple[dict[str, Any], ...]
    rejected: dict[str, int]
    attempted: int


def _replay(
    batch: Sequence[Bug], config: DemoConfig, pool: SandboxPool,
    rejected: collections.Counter[str],
) -> list[dict[str, Any]]:
    tasks = [bug.task() for bug in batch]
    reports = pool.run_batch([(t.buggy_code, t.tests) for t in tasks], timeout=config.env.timeout)
    envs, firsts, traces, lanes, detours = [], [], [], [], []
    for candidate, task, report in zip(batch, tasks, reports, strict=True):
        if report.passed:
            rejected["corrupted code passes"] += 1
            continue
        env = RepairEnv(attrs.evolve(config.env, max_turns=10_000), sandbox=pool)
        firsts.append(env.reset_with_report(task, report))
        envs.append(env)
        trace = candidate.corruption.trace(config.order)
        detour = _detour(candidate, trace, config)
        detours.append(detour)
        traces.append([format_command(c) for c in (detour.commands if detour else trace)])
        lanes.append(candidate)
    steps: list[list[tuple[Any, ...]]] = [[] for _ in envs]
    for turn in range(max((len(t) for t in traces), default=0)):
        active = [i for i, t in enumerate(traces) if turn < len(t)]
        results = step_all([envs[i] for i in active], [traces[i][turn] for i in active])
        for i, result in zip(active, results, strict=True):
            steps[i].append(result)
    records = []
    for env, first, trace, candidate, lane, detour in zip(
        envs, firsts, traces, lanes, steps, detours, strict=True
    ):
        assert env.editor is not None
        wrong = detour.turn if detour else None
        if any(info.status not in (StepStatus.APPLIED, StepStatus.EXIT)
               for turn, (_, _, _, info) in enumerate(lane) if turn != wrong) or (
            env.editor.source != candidate.corruption.original
        ):
            rejected["replay differs"] += 1
            continue
        if detour is not None and lane[detour.turn][3].passed:
            rejected["detour passes"] += 1
            continue
        if not env.solved:
            rejected["repaired code fails"] += 1
            continue
        records.append(_record(candidate, first, trace, lane, config, detour=detour))
    return records


def _detour(candidate: Bug, trace: Sequence[Any], config: DemoConfig) -> Detour | None:
    if not config.detours:
        return None
    rng = random.Random(f"detour:{config.seed}:{candidate.problem.task_id}#{candidate.index}")
    if rng.random() >= config.detours:
        return None
    return add_detour(candidate.corruption.corrupted, trace, rng)


def _record(
    candidate: Bug, first: Observation, trace: list[str],
    lane: list[tuple[Any, ...]], config: DemoConfig, *, detour: Detour | None = None,
) -> dict[str, Any]:
    problem, corruption = candidate.problem, candidate.corruption
    record = {
        "id": f"{problem.task_id}#{candidate.index}",
        "task_id": problem.task_id,
        "dataset": problem.provenance.dataset,
        "split": split_of(problem.task_id),
        "seed": config.seed,
        "prompt_version": PROMPT_VERSION,
        "training_format": TrainingFormat.CHAIN_OF_EDITS.value,
        "kinds": list(corruption.kinds),
        "n_edits": len(corruption.edits),
        "order": config.order,
        "original": corruption.original,
        "corrupted": corruption.corrupted,
        "tests": problem.tests,
        "entry_point": problem.entry_point,
        "problem": problem.statement,
        "system": first.system or "",
        "prompt": first.text,
        "commands": trace,
        "observations": [obs.text for obs, _, _, _ in lane[:-1]],
        "rewards": [reward for _, reward, _, _ in lane],
        "license": problem.provenance.license,
        "source": problem.provenance.source,
    }
    if detour is not None:
        record["untrained"] = [detour.turn]
        record["detour"] = {"turn": detour.turn, "kind": str(detour.kind),
                            "rejected": detour.rejected}
    return record


def build_demos(
    problems: Sequence[Problem],
    config: DemoConfig | None = None,
    *,
    pool: SandboxPool | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSet:
    """Build verified demonstrations from correct programs.

    Args:
        problems: Correct programs with tests (e.g. `toolthink.tasks.load_mbpp`).
        config: Build settings; `DemoConfig()` when None.
        pool: The sandbox pool; one is opened (and closed) when None.
        progress: Called with the number of candidates finished after each batch.

    Returns:
        The demonstrations (in problem order) and the rejection counts.
    """
    config = config or DemoConfig()
    rejected: collections.Counter[str] = collections.Counter()
    own = pool is None
    pool = pool or SandboxPool()
    records: list[dict[str, Any]] = []
    attempted = 0
    try:
        batch: list[Bug] = []
        for candidate in draw_bugs(problems, seed=config.seed, per_problem=config.per_problem,
                                   min_edits=config.min_edits, max_edits=config.max_edits,
                                   kinds=config.kinds,
                                   on_reject=lambda reason: rejected.update((reason,))):
            batch.append(candidate)
            if len(batch) == config.batch:
                records += _replay(batch, config, pool, rejected)
                attempted += len(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            records += _replay(batch, config, pool, rejected)
            attempted += len(batch)
            if progress:
                progress(len(batch))
    finally:
        if own:
            pool.close()
    attempted += sum(rejected[r] for r in ("no corruption", "duplicate"))
    return DemoSet(tuple(records), {r: rejected[r] for r in REJECTION_REASONS}, attempted)
