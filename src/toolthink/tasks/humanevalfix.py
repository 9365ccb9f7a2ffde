"""HumanEvalFix: 164 HumanEval problems, each with a hand-written bug (OctoPack).

Source: ``humanevalpack/humanevalpack_python.jsonl`` in the data folder, copied
from github.com/bigcode-project/octopack (MIT; prompts and tests from OpenAI
HumanEval, MIT). The buggy program is the prompt (imports, signature,
docstring) followed by ``buggy_solution``; the reference puts
``canonical_solution`` there instead. The tests define ``check`` and end with
the call ``check(<entry_point>)``; the loader renames ``check`` to
`CHECK_FUNCTION` so that the tests never shadow a candidate's function of that
name.
"""

from __future__ import annotations

from pathlib import Path

from toolthink.tasks.bug_kinds import SEMANTIC_KINDS, BugKind
from toolthink.tasks.convention import reserve_check_name
from toolthink.tasks.sources import DatasetFormatError, dataset_file, read_jsonl
from toolthink.tasks.task import Provenance, RepairTask

__all__ = ["HUMANEVALFIX_FILE", "load_humanevalfix"]

HUMANEVALFIX_FILE = "humanevalpack/humanevalpack_python.jsonl"
_SOURCE = "github.com/bigcode-project/octopack@e17a8f6 humanevalpack.jsonl (python)"
_FIELDS = ("task_id", "prompt", "canonical_solution", "buggy_solution", "test", "entry_point",
           "docstring", "bug_type", "failure_symptoms")  # fmt: skip


def load_humanevalfix(data_dir: str | Path) -> tuple[RepairTask, ...]:
    """Load the 164 HumanEvalFix Python tasks.

    Args:
        data_dir: The data folder (the layout of ../shared/data).

    Returns:
        Tasks in file order, ids ``HumanEvalFix/Python/<n>``; the provenance
        gives the bug type (``bug_kinds``, a `BugKind`) and the failure symptom (``notes``).

    Raises:
        DatasetNotFoundError: The file is missing.
        DatasetFormatError: A row lacks a field, or its tests do not define
            ``check`` in the form `reserve_check_name` knows.
    """
    path = dataset_file(data_dir, HUMANEVALFIX_FILE, "HumanEvalFix")
    tasks = []
    for row in read_jsonl(path, "HumanEvalFix", _FIELDS):
        item = str(row["task_id"])
        tasks.append(
            RepairTask(
                task_id=f"HumanEvalFix/{item}",
                problem=str(row["docstring"]),
                buggy_code=row["prompt"] + row["buggy_solution"],
                tests=reserve_check_name(str(row["test"]), f"HumanEvalFix/{item}"),
                entry_point=str(row["entry_point"]),
                reference=row["prompt"] + row["canonical_solution"],
                provenance=Provenance(
                    dataset="HumanEvalFix",
                    item=item,
                    license="MIT",
                    source=_SOURCE,
                    notes=f"symptom: {row['failure_symptoms']}",
                    bug_kinds=(_bug_kind(path, item, row["bug_type"]),),
                ),
            )
        )
    return tuple(tasks)


def _bug_kind(path: Path, item: str, bug_type: object) -> BugKind:
    """HumanEvalFix's ``bug_type``, one of `SEMANTIC_KINDS`."""
    if bug_type not in SEMANTIC_KINDS:
        msg = (f"{path}: {item} has bug_type {bug_type!r}, not one of HumanEvalFix's "
               f"{[str(k) for k in SEMANTIC_KINDS]}: restore the file from its source")
        raise DatasetFormatError(msg)
    return BugKind(str(bug_type))
