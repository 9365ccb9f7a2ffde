"""The benchmark programs the editor's tests use, read at collection time.

The folder is the suite's (tests/shared_data.py: ``$TOOLTHINK_DATA_DIR``, else
../shared/data). Without it the programs are empty and each test marked
`needs_data` is skipped with the reason and the fix (set TOOLTHINK_DATA_DIR),
or fails under ``TOOLTHINK_REQUIRE_DATA=1``: the mark runs the suite's
``data_dir`` fixture (tests/conftest.py), which decides. With the folder
present, a file missing from it is an error at collection, naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.shared_data import data_folder, data_problem

DATA_DIR = data_folder()
FOUND = data_problem(DATA_DIR) is None

needs_data = pytest.mark.usefixtures("data_dir")
"""Marks a test that reads `MBPP` or `BENCHMARK_PROGRAMS`: skipped (saying why) or failed
without the data, as the ``data_dir`` fixture decides."""


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def mbpp_programs() -> dict[int, str]:
    """MBPP programs under repair (``prompt + canonical_solution``) by task number.

    Empty when the data folder is missing (tests that need it are `needs_data`).
    """
    if not FOUND:
        return {}
    return {int(row["task_id"].removeprefix("MBPP/")): row["prompt"] + row["canonical_solution"]
            for row in _rows(DATA_DIR / "mbxp_mbpp" / "mbpp_release_v1.jsonl")}  # fmt: skip


MBPP = mbpp_programs()


def benchmark_programs() -> list[str]:
    """Every buggy program of the three benchmarks: MBPP, HumanEvalFix and QuixBugs.

    HumanEvalFix programs are ``prompt + buggy_solution``, QuixBugs ones
    ``buggy_program``. Empty when the data folder is missing.
    """
    if not FOUND:
        return []
    programs = [MBPP[k] for k in sorted(MBPP)]
    humaneval = _rows(DATA_DIR / "humanevalpack" / "humanevalpack_python.jsonl")
    programs += [row["prompt"] + row["buggy_solution"] for row in humaneval]
    quixbugs = _rows(DATA_DIR / "quixbugs" / "quixbugs_python.jsonl")
    programs += [row["buggy_program"] for row in quixbugs]
    return programs


BENCHMARK_PROGRAMS = benchmark_programs()
