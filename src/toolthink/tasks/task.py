"""Repair tasks and problems: the values every benchmark loader returns."""

from __future__ import annotations

import attrs

__all__ = ["Problem", "Provenance", "RepairTask"]


@attrs.frozen
class Provenance:
    """Where a task comes from, so that results can cite it and keep its license.

    Attributes:
        dataset: The benchmark's name, e.g. ``"HumanEvalFix"``.
        item: The item's id inside that dataset, e.g. ``"Python/0"``.
        license: The license of the item's text (SPDX id where one exists).
        source: The repository (and commit) the file was copied from, or a path.
        notes: Anything else a reader of results needs, for people only (tests
            skipped, a failure symptom); nothing parses it.
        bug_kinds: The kinds of the bug, by the names of
            `toolthink.tasks.bug_kinds.BugKind` (or a user's own names): one
            per edit for a synthetic bug, HumanEvalFix's label for its bugs,
            empty when unknown.
    """

    dataset: str
    item: str
    license: str
    source: str
    notes: str = ""
    bug_kinds: tuple[str, ...] = ()


@attrs.frozen
class RepairTask:
    """A buggy program to repair, with the tests that decide when it is repaired.

    The tests are Python source run after the code in the same module
    (`toolthink.tool.run_tests`): the code is repaired when they finish without
    an exception.

    Attributes:
        task_id: Unique id, ``<dataset>/<item>`` (e.g. ``"HumanEvalFix/Python/0"``).
        problem: The problem statement in prose.
        buggy_code: The program to repair, as the editor shows it.
        tests: Test source in the MBPP/HumanEval assert convention.
        entry_point: The function the tests call.
        reference: A known fix (the correct program), or None.
        provenance: Where it comes from, with the bug's kinds (``provenance.bug_kinds``).
        n_edits: How many edits made a synthetic bug (0 for real bugs).
    """

    task_id: str
    problem: str
    buggy_code: str
    tests: str
    entry_point: str
    reference: str | None
    provenance: Provenance
    n_edits: int = 0


@attrs.frozen
class Problem:
    """A correct program with its statement and tests: raw material for synthetic bugs.

    Attributes:
        task_id: Unique id, ``<dataset>/<item>`` (e.g. ``"MBPP/11"``).
        statement: The problem statement in prose.
        solution: A correct program.
        tests: Test source in the MBPP/HumanEval assert convention.
        entry_point: The function the tests call.
        provenance: Where it comes from.
    """

    task_id: str
    statement: str
    solution: str
    tests: str
    entry_point: str
    provenance: Provenance

    def with_bug(self, buggy_code: str, *, notes: str = "", bug_kinds: tuple[str, ...] = (),
                 n_edits: int = 0) -> RepairTask:
        """Return the repair task of fixing ``buggy_code`` back into this problem's solution.

        Args:
            buggy_code: A corrupted version of `solution` (e.g. from
                `toolthink.data.corruption`).
            notes: Appended to the provenance notes, for people (nothing parses them).
            bug_kinds: The edit kinds that made the bug, one per edit
                (``provenance.bug_kinds`` of the task).
            n_edits: How many edits made it.
        """
        provenance = attrs.evolve(self.provenance, bug_kinds=bug_kinds)
        if notes:
            joined = f"{provenance.notes}; {notes}" if provenance.notes else notes
            provenance = attrs.evolve(provenance, notes=joined)
        return RepairTask(
            task_id=self.task_id,
            problem=self.statement,
            buggy_code=buggy_code,
            tests=self.tests,
            entry_point=self.entry_point,
            reference=self.solution,
            provenance=provenance,
            n_edits=n_edits,
        )
