"""Fixtures for the task tests: the data folder, and a sandbox pool for calibration.

The data folder is ``TOOLTHINK_DATA_DIR`` (CI sets it) or ``../shared/data``
next to the repository; tests that need it skip, saying so, when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolthink.tool import SandboxConfig, SandboxPool, SandboxUnavailableError

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder, or a skip that says where it was looked for."""
    configured = os.environ.get("TOOLTHINK_DATA_DIR")
    path = Path(configured) if configured else REPOSITORY.parent / "shared" / "data"
    if not (path / "humanevalpack").is_dir():
        pytest.skip(
            f"benchmark data not found at {path}: set TOOLTHINK_DATA_DIR to the folder "
            "described in ../shared/data/README.md"
        )
    return path


@pytest.fixture(scope="session")
def calibration_pool() -> Iterator[SandboxPool]:
    """One worker per CPU; bubblewrap unless it cannot start (then the fallback)."""
    isolation = "bwrap" if os.environ.get("TOOLTHINK_REQUIRE_BWRAP") == "1" else "auto"
    try:
        pool = SandboxPool(SandboxConfig(isolation=isolation))
    except SandboxUnavailableError as exc:
        pytest.fail(f"no sandbox: {exc}")
    with pool:
        yield pool
