"""Held-out repair tasks: one verified synthetic bug per problem of an evaluation split.

`synthetic_tasks` draws one bug per correct program with the maker demonstrations
and RL use (`toolthink.data.bugs`: every edit kind, seeded per problem from
``("eval:<seed>", task_id)``) and keeps it only if the buggy program fails its
tests in the sandbox. Each task carries its bug's edit kinds and number of edits as
typed fields (`toolthink.tasks.Provenance.bug_kinds`, `toolthink.tasks.RepairTask.n_edits`).

`embedded_test_tasks` applies it to the ``test`` split of the embedded corpus
(`toolthink.tasks.splits.split_of`): the tasks of ``toolthink eval --dataset
embedded`` and of the SFT evaluation hook (`toolthink.training.sft_eval`).

`heldout_tasks` is the fixed held-out evaluation set of the study (issue 16,
point 2): MBPP's upstream ``test`` split (ids 11-510, never used by demonstrations
built from ``train``) when a data folder is given, else the embedded corpus'
``test`` split; seed `HELDOUT_SEED`; 1 to 5 edits per bug (the paper's range).
``toolthink data heldout --out FILE`` writes it once (`write_heldout`) and
`read_heldout` loads it back; ``toolthink eval --dataset heldout`` rebuilds the
same tasks (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from toolthink.data.bugs import draw_bugs, failing_tasks
from toolthink.jsonl import JsonlError, read_jsonl, write_jsonl
from toolthink.tasks import Problem, Provenance, RepairTask, load_embedded_corpus, load_mbpp
from toolthink.tasks.bug_kinds import summary_kind
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool

__all__ = ["HELDOUT_FIELDS", "HELDOUT_SEED", "HeldoutFormatError", "embedded_test_tasks",
           "heldout_problems", "heldout_tasks", "read_heldout", "synthetic_tasks",
           "write_heldout"]

HELDOUT_SEED = 0
"""The seed of the held-out set's bugs: fixed, so every run scores the same tasks."""

HELDOUT_FIELDS = ("id", "problem", "buggy_code", "tests", "entry_point", "reference",
                  "bug_kind", "bug_kinds", "n_edits", "split", "dataset", "item", "license",
                  "source", "seed")
"""The fields of each line of a held-out file (``bug_kind``: the one kind, or ``mixed``)."""


class HeldoutFormatError(JsonlError):
    """A line of a held-out file lacks the typed bug fields, or has them of the wrong type.

    Files are rebuilt, never patched: ``toolthink data heldout --out FILE``
    writes the same tasks (a fixed seed) in the current format.
    """


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
        Tasks whose buggy code fails its tests, in problem order, with
        ``bug_kinds`` and ``n_edits`` set.
    """
    bugs = draw_bugs(problems, seed=f"eval:{seed}", donors=donors, max_edits=max_edits)
    return failing_tasks(bugs, pool, timeout=timeout)


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


def heldout_problems(data_dir: str | Path | None) -> list[Problem]:
    """The problems of the held-out set: MBPP ``test`` with a data folder, else embedded ``test``.

    Raises:
        toolthink.tasks.DatasetNotFoundError: ``data_dir`` holds no MBPP file.
    """
    problems = load_embedded_corpus() if data_dir is None else load_mbpp(data_dir)
    return [p for p in problems if split_of(p.task_id) == "test"]


def heldout_tasks(
    data_dir: str | Path | None, pool: SandboxPool, *, limit: int | None = None,
    timeout: float = 5.0, ids: Collection[str] | None = None,
) -> list[RepairTask]:
    """The fixed held-out set: `synthetic_tasks` of `heldout_problems`, seed `HELDOUT_SEED`.

    Args:
        data_dir: The benchmark folder (the layout of ../shared/data), or None
            for the embedded corpus (about a dozen tasks: a smoke set).
        pool: Sandbox that checks each buggy program fails.
        limit: Use the first ``limit`` problems (None: all 500 MBPP test problems).
        timeout: Seconds per test run.
        ids: Only the problems of these task ids (after ``limit``): the same
            bugs as in the whole set, since each is seeded by its task id and
            draws donor lines from the whole split.

    Returns:
        Tasks in problem order (with MBPP, about 480 of the 500 problems keep a
        bug that fails its tests).
    """
    problems = heldout_problems(data_dir)
    chosen = [p for p in problems[:limit] if ids is None or p.task_id in ids]
    return synthetic_tasks(chosen, pool, donors=problems, seed=HELDOUT_SEED, timeout=timeout)


def write_heldout(path: str | Path, tasks: Sequence[RepairTask]) -> Path:
    """Write ``tasks`` as JSONL, one line of `HELDOUT_FIELDS` per task; returns the path.

    The parent folder is created if needed.
    """
    rows = ({"id": task.task_id, "problem": task.problem, "buggy_code": task.buggy_code,
             "tests": task.tests, "entry_point": task.entry_point, "reference": task.reference,
             "bug_kind": summary_kind(task.provenance.bug_kinds),
             "bug_kinds": list(task.provenance.bug_kinds), "n_edits": task.n_edits,
             "split": split_of(task.task_id), "dataset": task.provenance.dataset,
             "item": task.provenance.item, "license": task.provenance.license,
             "source": task.provenance.source, "seed": HELDOUT_SEED} for task in tasks)
    return write_jsonl(path, rows, ascii_only=False)


def read_heldout(path: str | Path) -> list[RepairTask]:
    """The tasks of a file `write_heldout` wrote, in file order.

    Raises:
        HeldoutFormatError: A line lacks ``bug_kinds`` or ``n_edits`` (a file
            written before the bug kinds were typed fields, whose kinds were
            only in free text) or has them of the wrong type; the message
            starts ``FILE:LINE`` and says how to rebuild the file.
        JsonlError: A line is not a JSON object or lacks another field of
            `HELDOUT_FIELDS`.
    """
    file = Path(path)
    typed = ("bug_kinds", "n_edits")
    tasks = []
    # Line numbers count objects (read_jsonl skips blank lines; write_heldout writes none).
    rows = read_jsonl(file, required=tuple(f for f in HELDOUT_FIELDS if f not in typed))
    for line, row in enumerate(rows, 1):
        kinds, edits = row.get("bug_kinds"), row.get("n_edits")
        if (not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)
                or type(edits) is not int or edits < 1):
            raise HeldoutFormatError(
                file, line, f"bug_kinds={kinds!r}, n_edits={edits!r}: a list of kind names "
                "and a positive int are expected (files of older versions lack them); "
                f"rebuild the file with `toolthink data heldout --out {file}` (add "
                "--data-dir for MBPP's test split): the same tasks, from a fixed seed")
        provenance = Provenance(dataset=str(row["dataset"]), item=str(row["item"]),
                                license=str(row["license"]), source=str(row["source"]),
                                bug_kinds=tuple(kinds))
        tasks.append(RepairTask(
            task_id=str(row["id"]), problem=str(row["problem"]),
            buggy_code=str(row["buggy_code"]), tests=str(row["tests"]),
            entry_point=str(row["entry_point"]), reference=row["reference"],
            provenance=provenance, n_edits=edits))
    return tasks
