"""Fixtures for the tool's tests: golden files (the editor) and sandbox pools (the runner).

Golden files live in ``golden/`` and are rewritten only under ``--update-golden``.

When the tests run as root the sandboxes run as uids of their own
(`SANDBOX_UID`, `ABUSE_UID`, `FALLBACK_UID`), so the host's process table shows exactly which
processes they hold; `live_processes` and `assert_processes_settle` use that to
check that a run leaves nothing behind. Set ``TOOLTHINK_REQUIRE_BWRAP=1`` (CI
does) to make a missing bubblewrap an error instead of a skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from toolthink.tool import SandboxConfig, SandboxPool, SandboxUnavailableError

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


REQUIRE_BWRAP = os.environ.get("TOOLTHINK_REQUIRE_BWRAP") == "1"
SANDBOX_UID = 50000 + 3 * (os.getpid() % 3000)
"""A uid no other process on the host uses (only meaningful when we are root)."""
ABUSE_UID = SANDBOX_UID + 1
"""The uid of the one-worker pools of the abuse suite, so their processes can be counted."""
FALLBACK_UID = SANDBOX_UID + 2
"""The uid the fallback pools are probed as; their sandboxes run as uid pairs
leased from `toolthink.tool.uids` (RLIMIT_NPROC counts every process of a real
uid on the host, so no two sandboxes share one)."""
CAN_SEE_PROCESSES = os.geteuid() == 0


def live_processes(uid: int) -> list[str]:
    """``pid: command`` of every live (not zombie) process whose real uid is ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")[:120]
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        real_uid = int(fields.get("Uid", "-1").split()[0])
        state = fields.get("State", "").strip()[:1]
        if real_uid == uid and state not in ("Z", "X"):
            found.append(f"{entry.name}: {command.decode(errors='replace')}")
    return sorted(found)


def assert_processes_settle(uid: int, expected: int, seconds: float = 5.0) -> None:
    """Wait until ``uid`` has exactly ``expected`` live processes; fail listing them."""
    deadline = time.monotonic() + seconds
    while True:
        processes = live_processes(uid)
        if len(processes) == expected:
            return
        if time.monotonic() > deadline:
            listing = "\n".join(processes)
            pytest.fail(f"expected {expected} processes of uid {uid}, found:\n{listing}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    """Two workers, bubblewrap when it can start."""
    return SandboxConfig(workers=2, uid=SANDBOX_UID)


@pytest.fixture(scope="session")
def pool(sandbox_config: SandboxConfig) -> Iterator[SandboxPool]:
    """One pool shared by the functional tests."""
    with SandboxPool(sandbox_config) as shared:
        yield shared


@pytest.fixture(scope="session")
def bwrap_config() -> SandboxConfig:
    """One worker that must be bubblewrap (skip, or fail under TOOLTHINK_REQUIRE_BWRAP=1).

    The tests in the candidate's process: the red-team suites that use it
    (test_secret, test_abuse) attack the one-process harness's guard;
    test_tests_process evolves it to the separate mode.
    """
    config = SandboxConfig(workers=1, isolation="bwrap", uid=ABUSE_UID, tests_process="same")
    try:
        config.plan()
    except SandboxUnavailableError as exc:
        if REQUIRE_BWRAP:
            raise
        pytest.skip(f"bubblewrap cannot start here ({exc}); these tests need it")
    return config


@pytest.fixture
def fresh_pool(bwrap_config: SandboxConfig) -> Iterator[SandboxPool]:
    """A new one-worker bubblewrap pool; after it closes, no process of its uid is left."""
    with SandboxPool(bwrap_config) as new:
        yield new
    if CAN_SEE_PROCESSES:
        assert_processes_settle(ABUSE_UID, 0)
