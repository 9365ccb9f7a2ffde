"""Settings shared by the whole suite.

Hypothesis profiles (STYLE.md): ``ci`` (the default: fast) and ``fuzz`` (long
runs), chosen with ``TOOLTHINK_HYPOTHESIS_PROFILE=fuzz``. Golden files are
rewritten only with ``pytest --update-golden``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from toolthink.tool import SandboxPool

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("TOOLTHINK_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output (review the diff before committing)",
    )


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[SandboxPool]:
    """One sandbox pool shared by the tests that run code but do not test the sandbox."""
    with SandboxPool() as pool:
        yield pool


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files should be rewritten instead of compared."""
    return bool(request.config.getoption("--update-golden"))
