"""The benchmark data the editor's tests use (../shared/data, or $TOOLTHINK_DATA_DIR)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The benchmark data folder: ``$TOOLTHINK_DATA_DIR``, else ``../shared/data``."""
    return Path(os.environ.get("TOOLTHINK_DATA_DIR", REPO.parent / "shared" / "data"))


def mbpp_programs() -> dict[int, str]:
    """MBPP programs under repair (``prompt + canonical_solution``) by task number.

    Empty when the data folder is missing; tests that need it skip then.
    """
    path = data_dir() / "mbxp_mbpp" / "mbpp_release_v1.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {
        int(row["task_id"].removeprefix("MBPP/")): row["prompt"] + row["canonical_solution"]
        for row in rows
    }


MBPP = mbpp_programs()
needs_mbpp = pytest.mark.skipif(
    not MBPP, reason=f"MBPP data not found under {data_dir()} (set TOOLTHINK_DATA_DIR)"
)


def benchmark_programs() -> list[str]:
    """Every buggy program of the three benchmarks: MBPP, HumanEvalFix and QuixBugs.

    HumanEvalFix programs are ``prompt + buggy_solution``, QuixBugs ones
    ``buggy_program``; a missing file contributes nothing.
    """
    programs = [MBPP[k] for k in sorted(MBPP)]
    humaneval = data_dir() / "humanevalpack" / "humanevalpack_python.jsonl"
    if humaneval.exists():
        for line in humaneval.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            programs.append(row["prompt"] + row["buggy_solution"])
    quixbugs = data_dir() / "quixbugs" / "quixbugs_python.jsonl"
    if quixbugs.exists():
        programs += [
            json.loads(line)["buggy_program"]
            for line in quixbugs.read_text(encoding="utf-8").splitlines()
        ]
    return programs


BENCHMARK_PROGRAMS = benchmark_programs()
needs_benchmarks = pytest.mark.skipif(
    not BENCHMARK_PROGRAMS, reason=f"benchmark data not found under {data_dir()}"
)
