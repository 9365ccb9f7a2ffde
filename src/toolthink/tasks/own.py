"""A user's own repair tasks from a JSONL file (``toolthink eval --tasks FILE.jsonl``).

One JSON object a line (the schema, with an example file, is in docs/own-tasks.md)::

    {"id": "clamp-off-by-one",                         # required, unique
     "buggy_code": "def clamp(x, lo, hi): ...",        # required: the program to repair
     "tests": "assert clamp(5, 0, 3) == 3\\n...",       # required: asserts run after the code
     "problem": "Clamp x into [lo, hi].",              # optional: the statement the model reads
     "bug_kind": "off-by-one",                         # optional: a row of the results table
     "reference": "def clamp(x, lo, hi): ...",         # optional: a known fix
     "entry_point": "clamp"}                           # optional: the function the tests call

`load_own_tasks` checks what can be checked without running code (types, unique
ids, tests that compile, no unknown field) and names the file and line of the
first problem; `check_in_sandbox` then runs every task once: the buggy code must
fail its tests (else there is nothing to repair) and a ``reference``, when
given, must pass them. Both raise `TaskFileError` (``FILE:LINE (id ...): what,
fix``). Lines are read by `toolthink.jsonl`, the reader every JSONL file goes through.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from toolthink.jsonl import JsonlError, read_numbered_jsonl
from toolthink.tasks.task import Provenance, RepairTask
from toolthink.tool import SandboxPool, TestOutcome

__all__ = ["OPTIONAL_FIELDS", "REQUIRED_FIELDS", "OwnTask", "TaskFileError", "check_in_sandbox",
           "load_own_tasks"]

REQUIRED_FIELDS = ("id", "buggy_code", "tests")
OPTIONAL_FIELDS = ("problem", "bug_kind", "reference", "entry_point")

class TaskFileError(JsonlError):
    """A line of a tasks file breaks the schema, or its task cannot be evaluated.

    The message starts ``FILE:LINE``, names the field or the test outcome, and the fix.
    """


@attrs.frozen
class OwnTask:
    """A task of a user's file, with the line it came from (for later errors).

    Attributes:
        path: The tasks file.
        line: The 1-based line of the task in it.
        task: The repair task; ``task_id`` is the line's ``id`` as written.
    """

    path: Path
    line: int
    task: RepairTask


def _text(path: Path, line: int, row: dict[str, Any], field: str, *, required: bool) -> str:
    value = row.get(field, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()):
        got = "missing" if field not in row else f"{type(value).__name__} {value!r:.40}"
        need = "a non-empty string" if required else "a string"
        raise TaskFileError(path, line, f"field {field!r} must be {need}, got {got}")
    return value


def _task(path: Path, line: int, row: dict[str, Any]) -> RepairTask:
    unknown = sorted(set(row) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise TaskFileError(path, line, f"has unknown fields {unknown}: the fields are "
                            f"{', '.join(REQUIRED_FIELDS)} (required) and "
                            f"{', '.join(OPTIONAL_FIELDS)} (optional)")
    task_id = _text(path, line, row, "id", required=True)
    buggy_code = _text(path, line, row, "buggy_code", required=True)
    tests = _text(path, line, row, "tests", required=True)
    try:
        compile(tests, f"tests of {task_id}", "exec")
    except (SyntaxError, ValueError) as e:
        where = f" at line {e.lineno} of the tests" if isinstance(e, SyntaxError) else ""
        reason = e.msg if isinstance(e, SyntaxError) else str(e)
        raise TaskFileError(path, line, f"(id {task_id!r}): the tests do not compile{where} "
                            f"({reason}): fix the 'tests' field") from e
    kind = _text(path, line, row, "bug_kind", required=False).strip()
    if ";" in kind or "\n" in kind:
        raise TaskFileError(path, line, f"(id {task_id!r}): bug_kind {kind!r} must be one "
                            "name on one line without ';', e.g. off-by-one")
    reference = row.get("reference")
    if reference is not None:
        reference = _text(path, line, row, "reference", required=True)
    return RepairTask(
        task_id=task_id, problem=_text(path, line, row, "problem", required=False),
        buggy_code=buggy_code, tests=tests,
        entry_point=_text(path, line, row, "entry_point", required=False),
        reference=reference,
        provenance=Provenance(dataset=path.name, item=task_id, license="unknown (your file)",
                              source=f"{path}:{line}", bug_kinds=(kind,) if kind else ()),
    )


def load_own_tasks(path: str | Path) -> list[OwnTask]:
    """The tasks of a user's JSONL file, checked without running them.

    Args:
        path: The file (schema in the module docstring and docs/own-tasks.md).

    Returns:
        The tasks, in file order.

    Raises:
        TaskFileError: A line breaks the schema (not a JSON object, a required
            field missing or empty, a field of the wrong type, an unknown field,
            tests that do not compile, an id used twice) or the file holds no task;
            the message starts ``FILE:LINE``.
        OSError: The file cannot be read (callers check that it exists).
    """
    file = Path(path)
    try:
        rows = read_numbered_jsonl(file)
    except TaskFileError:
        raise
    except JsonlError as e:
        raise TaskFileError(e.path, e.line, str(e).removeprefix(f"{e.path}:{e.line} ")) from e
    tasks: list[OwnTask] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        task = _task(file, line, row)
        if task.task_id in first_line:
            raise TaskFileError(file, line, f"repeats the id {task.task_id!r} of line "
                                f"{first_line[task.task_id]}: give every task its own id")
        first_line[task.task_id] = line
        tasks.append(OwnTask(path=file, line=line, task=task))
    if not tasks:
        raise TaskFileError(file, 1, "holds no task: write one JSON object a line with the "
                            f"fields {', '.join(REQUIRED_FIELDS)} (docs/own-tasks.md)")
    return tasks


def check_in_sandbox(tasks: Sequence[OwnTask], pool: SandboxPool, *, timeout: float) -> None:
    """Run each task's buggy code (and reference) against its tests once, in one batch.

    Args:
        tasks: From `load_own_tasks`.
        pool: The sandbox.
        timeout: Seconds per run (the evaluation's test timeout).

    Raises:
        TaskFileError: The first task whose tests are broken, whose buggy code
            passes them (nothing to repair), or whose reference fails them.
    """
    jobs = [(t.task.buggy_code, t.task.tests) for t in tasks]
    with_reference = [t for t in tasks if t.task.reference is not None]
    jobs += [(str(t.task.reference), t.task.tests) for t in with_reference]
    reports = pool.run_batch(jobs, timeout=timeout)
    for own, report in zip(tasks, reports, strict=False):
        where = f"(id {own.task.task_id!r}):"
        if report.outcome is TestOutcome.BAD_TESTS:
            raise TaskFileError(own.path, own.line, f"{where} {report.feedback}: fix 'tests'")
        if report.passed:
            raise TaskFileError(own.path, own.line, f"{where} the buggy code already passes "
                                "its tests, so there is nothing to repair: give tests that "
                                "fail on it (do they assert anything?)")
    for own, report in zip(with_reference, reports[len(tasks):], strict=True):
        if not report.passed:
            feedback = report.feedback.strip().splitlines()[0] if report.feedback.strip() else ""
            raise TaskFileError(own.path, own.line, f"(id {own.task.task_id!r}): the "
                                f"reference fails its tests ({report.outcome.value}: "
                                f"{feedback}): fix 'reference' or 'tests'")
