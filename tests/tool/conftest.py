"""Fixtures for the editor's tests: golden files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden(update_golden: bool) -> Callable[[str, str], None]:
    """Compare ``text`` with ``golden/<name>``, or rewrite it under ``--update-golden``."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update_golden:
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"{path} is missing: run pytest --update-golden and review it"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"render differs from {path} (pytest --update-golden rewrites it)"

    return check
