"""Fixtures for the task tests: a sandbox pool for calibration.

The data folder (``data_dir``: ``TOOLTHINK_DATA_DIR``, which CI sets, or
``../shared/data`` next to the repository) comes from tests/conftest.py; tests
that need it skip, saying so, when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from toolthink.tool import SandboxConfig, SandboxPool, SandboxUnavailableError


@pytest.fixture(scope="session", params=["separate", "same"])
def calibration_pool(request: pytest.FixtureRequest) -> Iterator[SandboxPool]:
    """One worker per CPU; bubblewrap unless it cannot start (then the fallback); the
    tests in a process of their own, then in the candidate's (`SandboxConfig.tests_process`)."""
    isolation = "bwrap" if os.environ.get("TOOLTHINK_REQUIRE_BWRAP") == "1" else "auto"
    try:
        pool = SandboxPool(SandboxConfig(isolation=isolation, tests_process=request.param))
    except SandboxUnavailableError as exc:
        pytest.fail(f"no sandbox: {exc}")
    with pool:
        yield pool
