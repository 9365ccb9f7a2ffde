"""The evaluation sets: benchmark repair tasks and held-out synthetic bugs, with bug kinds.

- ``humanevalfix`` (164) and ``quixbugs`` (40): real bugs from the data folder
  (`toolthink.tasks`); HumanEvalFix labels each bug's kind (``bug_type``,
  Muennighoff et al. 2023), QuixBugs does not.
- ``embedded``: the held-out (``test``) split of the corpus shipped in
  toolthink (`toolthink.tasks.splits.split_of`), one synthetic bug per problem.
- ``mbpp-synthetic``: MBPP's upstream ``test`` split (ids 11-510), one
  synthetic bug per problem.
- ``heldout``: the study's fixed held-out set (`toolthink.data.heldout.heldout_tasks`:
  ``mbpp-synthetic`` at its fixed seed with a data folder, else ``embedded``'s
  problems at that seed), the tasks ``toolthink data heldout --out FILE`` writes.

Synthetic bugs come from `toolthink.data.heldout.synthetic_tasks` (re-exported
here): the edit kinds of demonstrations, seeded per problem from ``(seed,
task_id)``, kept only if the buggy program fails its tests in the sandbox. The
``embedded`` set is `toolthink.data.heldout.embedded_test_tasks`, which the SFT
evaluation hook plays too. The bug kind of a synthetic task is its edit kind
(``"mixed"`` for several kinds), a typed field of its provenance.
"""

from __future__ import annotations

from pathlib import Path

from toolthink.data.heldout import embedded_test_tasks, heldout_tasks, synthetic_tasks
from toolthink.tasks import RepairTask, load_humanevalfix, load_mbpp, load_quixbugs
from toolthink.tasks.bug_kinds import summary_kind
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool

__all__ = ["DATASETS", "bug_kind", "load_eval_tasks", "synthetic_tasks"]

DATASETS = ("humanevalfix", "quixbugs", "mbpp-synthetic", "embedded", "heldout")
"""Names accepted by ``toolthink eval --dataset``."""

NEEDS_DATA_DIR = frozenset({"humanevalfix", "quixbugs", "mbpp-synthetic"})


def bug_kind(task: RepairTask) -> str | None:
    """The bug kind a task's provenance records (``"mixed"`` for several), or None.

    `toolthink.tasks.bug_kinds.summary_kind` of ``provenance.bug_kinds``: a
    synthetic bug's edit kinds, HumanEvalFix's label, a user's ``bug_kind``.
    """
    return summary_kind(task.provenance.bug_kinds)


def load_eval_tasks(
    dataset: str,
    data_dir: str | Path | None,
    pool: SandboxPool,
    *,
    limit: int | None = None,
    seed: int = 0,
) -> list[RepairTask]:
    """The tasks of an evaluation set, at most ``limit`` of them (in file order).

    Args:
        dataset: One of `DATASETS`.
        data_dir: The benchmark folder (the layout of ../shared/data); unused
            for ``embedded``; optional for ``heldout`` (without it: the embedded corpus).
        pool: Sandbox used to verify synthetic bugs.
        limit: Keep the first ``limit`` tasks (None: all).
        seed: Seed of the synthetic bugs (not of ``heldout``, whose seed is fixed).

    Raises:
        ValueError: Unknown dataset, or a data folder is needed and missing.
        toolthink.tasks.DatasetNotFoundError: A benchmark file is missing.
    """
    if dataset not in DATASETS:
        msg = f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}"
        raise ValueError(msg)
    if dataset in NEEDS_DATA_DIR and data_dir is None:
        msg = f"dataset {dataset!r} needs a data folder"
        raise ValueError(msg)
    if dataset == "humanevalfix":
        assert data_dir is not None
        return list(load_humanevalfix(data_dir)[:limit])
    if dataset == "quixbugs":
        assert data_dir is not None
        return list(load_quixbugs(data_dir)[:limit])
    if dataset == "heldout":
        return heldout_tasks(data_dir, pool, limit=limit)
    if dataset == "mbpp-synthetic":
        assert data_dir is not None
        problems = [p for p in load_mbpp(data_dir) if split_of(p.task_id) == "test"]
        return synthetic_tasks(problems[:limit], pool, donors=problems, seed=seed)
    return embedded_test_tasks(pool, limit=limit, seed=seed)
