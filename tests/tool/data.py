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
