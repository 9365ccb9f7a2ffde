"""The kinds of bug a repair task can carry: one enumeration for data, tasks and evaluation.

The data generator makes bugs of these kinds (`toolthink.data.corruption`: the
paper's random line edits; `toolthink.data.mutations`: the semantic kinds), the
HumanEvalFix loader labels its real bugs with the same semantic names, and
evaluation groups its results by them. A task records its kinds as a typed
field, `toolthink.tasks.Provenance.bug_kinds`, never in free text.

A user's own tasks file (`toolthink.tasks.own`) may name any kind (``"off-by-one"``):
``bug_kinds`` holds plain strings, of which `BugKind` members are the ones
toolthink itself makes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["LINE_EDITS", "MIXED", "SEMANTIC_KINDS", "BugKind", "summary_kind"]


class BugKind(enum.StrEnum):
    """A kind of bug; the value is the name written in files and tables."""

    # The paper's random line edits (Rainone et al., arXiv 2507.05065, section 4.1).
    DELETE_LINE = "delete line"
    ADD_DONOR_LINE = "add donor line"
    REPLACE_BY_DONOR_LINE = "replace by donor line"
    TOKEN_SWAP = "token swap"
    TYPO = "typo"
    # HumanEvalFix's bug types (Muennighoff et al., "OctoPack", 2023), made by LibCST mutations.
    OPERATOR_MISUSE = "operator misuse"
    VALUE_MISUSE = "value misuse"
    VARIABLE_MISUSE = "variable misuse"
    MISSING_LOGIC = "missing logic"
    EXCESS_LOGIC = "excess logic"
    FUNCTION_MISUSE = "function misuse"


LINE_EDITS = (BugKind.DELETE_LINE, BugKind.ADD_DONOR_LINE, BugKind.REPLACE_BY_DONOR_LINE,
              BugKind.TOKEN_SWAP, BugKind.TYPO)
"""The paper's random edit kinds, in the order the generator draws from."""

SEMANTIC_KINDS = (BugKind.OPERATOR_MISUSE, BugKind.VALUE_MISUSE, BugKind.VARIABLE_MISUSE,
                  BugKind.MISSING_LOGIC, BugKind.EXCESS_LOGIC, BugKind.FUNCTION_MISUSE)
"""HumanEvalFix's bug types, the kinds `toolthink.data.mutations` makes."""

MIXED = "mixed"
"""The summary kind of a bug made by edits of several kinds."""


def summary_kind(kinds: Iterable[str]) -> str | None:
    """The one kind a results table files a bug under.

    Args:
        kinds: A task's ``bug_kinds`` (one per edit for a synthetic bug).

    Returns:
        The kind when all are the same, `MIXED` for several, None for none.
    """
    distinct = set(kinds)
    if not distinct:
        return None
    return str(distinct.pop()) if len(distinct) == 1 else MIXED
