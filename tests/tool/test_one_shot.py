"""``run_tests`` in a loop: one process-wide pool, nothing left behind, in both isolations.

Before issue 14 each call started and ended a sandbox: under bubblewrap every
call left a defunct ``bwrap`` re-parented to the host's pid 1 (which here, as
in Docker without ``--init``, never reaps), and in the fallback the shared
``nobody`` uid ran out of processes after about 7 calls.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.tool.conftest import CAN_SEE_PROCESSES, REQUIRE_BWRAP
from toolthink.tool import (
    SandboxConfig,
    SandboxPool,
    SandboxUnavailableError,
    run_tests,
    sandbox,
    uids,
)

pytestmark = pytest.mark.skipif(not CAN_SEE_PROCESSES, reason="counts other uids' processes")

BWRAP_UID = 40000 + os.getpid() % 9000
FALLBACK_BASE = 1_950_000_000 + 2 * 4096 * (os.getpid() % 1000)
FALLBACK_UIDS = range(FALLBACK_BASE, FALLBACK_BASE + 2 * 4096)

LOOP = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from toolthink.tool import SandboxConfig, run_tests
    config = SandboxConfig(uid={uid}, fallback_uids={base}, isolation={isolation!r})
    for i in range(30):
        report = run_tests("def f():\\n    return 1\\n", "assert f() == 1\\n", timeout=10,
                           config=config)
        assert report.passed, (i, report.feedback)
    print(report.isolation.value)
""")


def processes_of(wanted: set[int] | range) -> list[str]:
    """``pid state name`` of each process (zombies too) one of whose uids is wanted."""
    found = []
    for pid, ids in uids._process_uids().items():
        if any(uid in wanted for uid in ids):
            with contextlib.suppress(OSError):
                name, _, rest = Path(f"/proc/{pid}/stat").read_text().rpartition(")")
                found.append(f"{pid} {rest.split()[0]} {name.partition('(')[2]}")
    return found


def _bwrap_available() -> bool:
    try:
        SandboxConfig(workers=1, isolation="bwrap", uid=BWRAP_UID).plan()
    except SandboxUnavailableError:
        if REQUIRE_BWRAP:
            raise
        return False
    return True


@pytest.mark.parametrize("isolation", ["bwrap", "fallback"])
def test_thirty_one_shot_calls_leave_no_process(isolation: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    if isolation == "bwrap":
        if not _bwrap_available():
            pytest.skip("bubblewrap cannot start here")
        wanted: set[int] | range = {BWRAP_UID}
    else:  # a PATH without bwrap, as on a host that lacks it
        (tmp_path / "setpriv").symlink_to("/usr/bin/setpriv")
        env["PATH"] = str(tmp_path)
        wanted = FALLBACK_UIDS
    script = LOOP.format(uid=BWRAP_UID, base=FALLBACK_BASE, isolation="auto")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["bwrap" if isolation == "bwrap" else "process"]
    assert processes_of(wanted) == []  # no child, no zombie, after the process exits


def test_the_loop_reuses_one_pool_and_close_ends_it() -> None:
    config = SandboxConfig(workers=2, isolation="process", fallback_uids=FALLBACK_BASE)
    for _ in range(30):
        assert run_tests("x = 1\n", "assert x == 1\n", timeout=10, config=config).passed
    assert list(sandbox._shared).count(config) == 1
    live = processes_of(FALLBACK_UIDS)
    # One worker (sequential runs reuse the warm one): its launcher and the
    # interpreter it started for the next run.
    assert len(live) == 2, live
    assert not [p for p in live if " Z " in p]
    pool = sandbox._shared.pop(config)
    pool.close()
    assert processes_of(FALLBACK_UIDS) == []


def test_fallback_sandboxes_get_distinct_uid_pairs() -> None:
    base = FALLBACK_BASE + 128
    first, second = uids.lease_uids(base), uids.lease_uids(base)
    try:
        assert (first.real, first.effective) == (base, base + 1)
        assert (second.real, second.effective) == (base + 2, base + 3)
    finally:
        first.release()
    again = uids.lease_uids(base)  # a released pair is leased again
    assert again.real == base
    again.release()
    second.release()


def test_a_run_is_non_dumpable_and_counts_only_its_own_processes() -> None:
    config = SandboxConfig(workers=1, isolation="process", fallback_uids=FALLBACK_BASE + 64)
    code = textwrap.dedent("""
        import os, resource
        real, effective, _ = os.getresuid()
        mem_owner = os.stat("/proc/self/mem").st_uid
    """)
    tests = (f"assert real == {FALLBACK_BASE + 64} and effective == real + 1\n"
             "assert mem_owner == 0, mem_owner\n")  # fmt: skip
    report = run_tests(code, tests, timeout=10, config=config)
    assert report.passed, report.feedback
    pool = sandbox._shared.pop(config)
    pool.close()


def test_a_forked_child_gets_a_pool_of_its_own_and_leaves_the_parents() -> None:
    config = SandboxConfig(workers=1, isolation="process", fallback_uids=FALLBACK_BASE + 256)
    other = SandboxConfig(workers=1, isolation="process", fallback_uids=FALLBACK_BASE + 512,
                          explain_seconds=0)  # fmt: skip
    try:
        assert run_tests("x = 1\n", "assert x == 1\n", timeout=10, config=config).passed
        assert run_tests("x = 1\n", "assert x == 1\n", timeout=10, config=other).passed
        parents = sandbox._shared[config]
        assert sandbox._shared[other] is not parents
        pid = os.fork()
        if pid == 0:  # the child: the parent's pools are not its own
            ok = config not in sandbox._shared
            ok = ok and run_tests("x = 2\n", "assert x == 2\n", timeout=10, config=config).passed
            sandbox._close_shared()  # what atexit does, which os._exit skips
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sandbox._shared[config] is parents
        assert run_tests("x = 3\n", "assert x == 3\n", timeout=10, config=config).passed
    finally:
        for key in (config, other):
            pool = sandbox._shared.pop(key, None)
            if pool is not None:
                pool.close()


def test_runs_from_many_threads_on_unstarted_workers_all_finish() -> None:
    # Single runs go in the caller's thread and have their sandbox started by a
    # thread of its own: never queued behind batch runs waiting for a worker.
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    pool = SandboxPool(SandboxConfig(workers=2, uid=BWRAP_UID))
    with pool, ThreadPoolExecutor(max_workers=5) as callers:
        singles = [callers.submit(pool.run, "x = 1\n", "assert x == 1\n", timeout=10)
                   for _ in range(3)]  # fmt: skip
        batches = [callers.submit(pool.run_batch, [("x = 1\n", "assert x == 1\n")] * 3,
                                  timeout=10) for _ in range(2)]  # fmt: skip
        reports = [f.result(timeout=120) for f in singles]
        reports += [r for f in batches for r in f.result(timeout=120)]
    assert all(report.passed for report in reports), [r.feedback for r in reports]
