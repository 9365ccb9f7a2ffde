"""Where bubblewrap cannot start: plain subprocesses, the same limits, one warning."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from tests.tool.conftest import FALLBACK_UID
from toolthink.tool import Isolation, SandboxConfig, SandboxPool, TestOutcome

MISSING = f"toolthink-missing-bwrap-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def fallback_pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxConfig(workers=2, bwrap=MISSING, uid=FALLBACK_UID)) as pool:
        yield pool


def test_one_warning_per_configuration(caplog: pytest.LogCaptureFixture) -> None:
    config = SandboxConfig(workers=1, bwrap=MISSING + "-warn", uid=FALLBACK_UID)
    with caplog.at_level(logging.WARNING, logger="toolthink.tool.isolation"):
        for _ in range(3):
            SandboxPool(config).close()
    warnings = [r for r in caplog.records if "bubblewrap is unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "bubblewrap" in warnings[0].getMessage()
    assert MISSING in warnings[0].getMessage()


def test_the_fallback_is_recorded(fallback_pool: SandboxPool) -> None:
    assert fallback_pool.isolation is Isolation.PROCESS
    assert "not found" in fallback_pool.plan.reason
    report = fallback_pool.run("def f():\n    return 1\n", "assert f() == 1\n", timeout=10)
    assert report.passed
    assert report.isolation is Isolation.PROCESS


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("def f():\n    return 2\n", TestOutcome.FAILED),
        ("import sys\nsys.exit(0)\n", TestOutcome.FAILED),
        ("import os\nos._exit(0)\n", TestOutcome.EXITED),
        ("def f():\n    while True:\n        pass\n", TestOutcome.TIMEOUT),
        ("import sys\nfor _ in range(2048):\n    sys.stdout.write('x' * 1024)\n",
         TestOutcome.OUTPUT_LIMIT),
        ("x = bytearray(8 * 2 ** 30)\n", TestOutcome.FAILED),
        ("import os, time\nif os.fork() == 0:\n    time.sleep(60)\ndef f():\n    return 1\n",
         TestOutcome.LEFTOVER_PROCESSES),
    ],
)  # fmt: skip
def test_the_fallback_keeps_the_verdict_rules(
    fallback_pool: SandboxPool, code: str, outcome: TestOutcome
) -> None:
    report = fallback_pool.run(code, "assert f() == 1\n", timeout=1.5)
    assert not report.passed
    assert report.outcome is outcome, report


def test_the_fallback_applies_the_limits(fallback_pool: SandboxPool) -> None:
    code = "import resource\nlimits = resource.getrlimit(resource.RLIMIT_NPROC)\n"
    processes = fallback_pool.config.limits.processes
    report = fallback_pool.run(code, f"assert limits == ({processes}, {processes})\n", timeout=10)
    assert report.passed, report.feedback


def test_a_process_limit_too_small_to_run_is_a_sandbox_error() -> None:
    from toolthink.tool import Limits  # noqa: PLC0415

    # The one-process harness needs a thread; the separate tests' process starts none.
    config = SandboxConfig(workers=1, bwrap=MISSING, uid=FALLBACK_UID, limits=Limits(processes=1),
                           tests_process="same")  # fmt: skip
    with SandboxPool(config) as pool:
        report = pool.run("def f():\n    return 1\n", "assert f() == 1\n", timeout=5)
    assert report.outcome is TestOutcome.SANDBOX_ERROR
    assert "cannot start the test thread" in report.feedback
