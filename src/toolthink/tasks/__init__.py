"""Benchmark tasks: repair tasks, correct problems, their loaders and the embedded corpus.

- `RepairTask`: a problem statement, buggy code, tests, an optional reference
  fix and its provenance (with the bug's kinds, `BugKind` names).
  `load_humanevalfix` (164) and `load_quixbugs` (40) return them.
- `Problem`: a correct program with statement and tests, raw material for
  synthetic bugs. `load_mbpp` (974, or 963 without `MBPP_KNOWN_BROKEN`) and
  `load_embedded_corpus` (shipped inside toolthink) return them.

The loaders read the data folder the caller names (the layout of
../shared/data); nothing here downloads or copies benchmark files. Tests are
plain Python run after the code in the same module, as
`toolthink.tool.run_tests` expects; the HumanEval convention's ``check`` is
renamed to `CHECK_FUNCTION` so that it never shadows the candidate's names.
This package needs no ML stack.
"""

from __future__ import annotations

from toolthink.tasks.bug_kinds import BugKind
from toolthink.tasks.convention import CHECK_FUNCTION
from toolthink.tasks.corpus import load_embedded_corpus
from toolthink.tasks.humanevalfix import load_humanevalfix
from toolthink.tasks.mbpp import MBPP_KNOWN_BROKEN, MBPP_ORDER_DEPENDENT, load_mbpp
from toolthink.tasks.quixbugs import load_quixbugs
from toolthink.tasks.sources import DatasetFormatError, DatasetNotFoundError
from toolthink.tasks.task import Problem, Provenance, RepairTask

__all__ = [
    "CHECK_FUNCTION",
    "MBPP_KNOWN_BROKEN",
    "MBPP_ORDER_DEPENDENT",
    "BugKind",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "Problem",
    "Provenance",
    "RepairTask",
    "load_embedded_corpus",
    "load_humanevalfix",
    "load_mbpp",
    "load_quixbugs",
]
