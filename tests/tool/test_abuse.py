"""The abuse suite (issue 4): hostile code ends as a failure with a reason.

Every case runs in a fresh one-worker bubblewrap pool and must (1) fail, with
the expected outcome and a reason in the feedback; (2) leave the host as it
was: the sandbox holds exactly its standing processes again afterwards (root
only: the sandbox's uid is ours alone), nothing written outside, no network
reached; and (3) leave the sandbox usable: the next run passes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import textwrap
import threading
from pathlib import Path

import attrs
import pytest

from tests.tool.conftest import ABUSE_UID, CAN_SEE_PROCESSES, assert_processes_settle
from toolthink.tool import SandboxPool, TestOutcome, TestReport

TESTS = "assert answer() == 42\n"
GOOD = "def answer():\n    return 42\n"
ALWAYS_PASSES = "assert True\n"


@attrs.frozen
class Case:
    code: str
    outcomes: frozenset[TestOutcome]
    reason: str
    tests: str = TESTS
    timeout: float = 3.0


def case(code: str, *outcomes: TestOutcome, reason: str, **kwargs: object) -> Case:
    return Case(textwrap.dedent(code), frozenset(outcomes), reason, **kwargs)  # type: ignore[arg-type]


CASES = {
    "infinite loop": case(
        """
        def answer():
            while True:
                pass
        """,
        TestOutcome.TIMEOUT,
        reason="Timed out after 1 s",
        timeout=1.0,
    ),
    "fork bomb": case(
        """
        import os
        while True:
            os.fork()
        """,
        TestOutcome.FAILED,
        reason="Resource temporarily unavailable",
    ),
    "sys.exit(0) before the asserts": case(
        """
        import sys
        sys.exit(0)
        """,
        TestOutcome.FAILED,
        reason="SystemExit(0): the program called exit",
    ),
    "os._exit(0) before the asserts": case(
        """
        import os
        os._exit(0)
        """,
        TestOutcome.EXITED,
        reason="exited (status 0) before the tests finished",
    ),
    "printing what a pass looks like": case(
        """
        import os, sys
        print("All tests passed.")
        print("V " + "0" * 32 + " PASS")
        sys.stderr.write("passed=True\\n")
        os.write(3, b"\\nV " + b"f" * 32 + b" PASS\\n")
        os.write(3, b'\\nR {"kind": "explained", "count": 0, "complete": true}\\n')
        os._exit(0)
        """,
        TestOutcome.EXITED,
        reason="before the tests finished",
    ),
    "allocating 8 GiB": case(
        """
        block = bytearray(8 * 2 ** 30)
        def answer():
            return 42
        """,
        TestOutcome.FAILED,
        reason="MemoryError",
    ),
    "allocating 8 GiB in small pieces": case(
        """
        pieces = [bytearray(2 ** 26) for _ in range(128)]
        """,
        TestOutcome.FAILED,
        TestOutcome.CRASHED,
        reason="Error",
    ),
    "writing 1 GiB to stdout": case(
        """
        import sys
        line = "x" * (1 << 20)
        for _ in range(1024):
            sys.stdout.write(line)
        def answer():
            return 42
        """,
        TestOutcome.OUTPUT_LIMIT,
        reason="more than 1048576 bytes of output",
    ),
    "deep recursion": case(
        """
        def answer(n=0):
            return answer(n + 1)
        """,
        TestOutcome.FAILED,
        reason="RecursionError",
    ),
    "recursion too deep for the C stack": case(
        """
        import sys
        sys.setrecursionlimit(10 ** 7)
        nested = []
        for _ in range(10 ** 6):
            nested = [nested]
        text = repr(nested)
        """,
        TestOutcome.CRASHED,
        TestOutcome.FAILED,
        reason="",
        timeout=10.0,
    ),
    "signal handlers are refused": case(
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        """,
        TestOutcome.FAILED,
        reason="signal only works in main thread",
    ),
    "a child that ignores SIGTERM": case(
        """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "time.sleep(4343.4343)"])
        def answer():
            while True:
                pass
        """,
        TestOutcome.TIMEOUT,
        reason="Timed out",
        timeout=1.5,
    ),
    "a grandchild that outlives the run": case(
        """
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/sleep", ["sleep", "4242.4242"])
            os._exit(0)
        os.wait()
        def answer():
            return 42
        """,
        TestOutcome.LEFTOVER_PROCESSES,
        reason="left processes running",
    ),
    "a grandchild that outlives the timeout": case(
        """
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/sleep", ["sleep", "4242.4243"])
            os._exit(0)
        def answer():
            while True:
                pass
        """,
        TestOutcome.TIMEOUT,
        reason="Timed out",
        timeout=1.0,
    ),
    # The runs live in a pid namespace where the launcher has no pid (their
    # parent is 0) and pid 1 is the zygote, its init (toolthink.tool._zygote):
    # no signal from inside reaches either, so the run is only as slow as it
    # makes itself. (The fallback and uid=0: the launcher is pid 1 itself.)
    "killing the launcher": case(
        """
        import os, signal
        for pid in {1, os.getppid()} - {0}:
            os.kill(pid, signal.SIGKILL)
        import time
        time.sleep(5)
        """,
        TestOutcome.TIMEOUT,
        reason="Timed out",
    ),
    "a file over the size limit": case(
        """
        with open("big.bin", "wb") as out:
            out.write(b"x" * (17 * 2 ** 20))
        """,
        TestOutcome.FAILED,
        reason="File too large",
    ),
}


def _settled_count(pool: SandboxPool) -> int:
    """Run once so the worker holds its standing processes; return how many there are."""
    assert pool.run(GOOD, TESTS, timeout=10).passed
    if not CAN_SEE_PROCESSES:
        return -1
    from tests.tool.conftest import live_processes  # noqa: PLC0415

    return len(live_processes(ABUSE_UID))


def _check_recovers(pool: SandboxPool, standing: int, report: TestReport) -> None:
    """The host is as before: the standing processes only, and the sandbox still works.

    After a sandbox error the worker is stopped (0 processes) until its next run.
    """
    if CAN_SEE_PROCESSES:
        stopped = report.outcome is TestOutcome.SANDBOX_ERROR
        assert_processes_settle(ABUSE_UID, 0 if stopped else standing)
    report = pool.run(GOOD, TESTS, timeout=10)
    assert report.passed, report.feedback
    if CAN_SEE_PROCESSES:
        assert_processes_settle(ABUSE_UID, standing)


def _assert_failed(report: TestReport, expected: Case) -> None:
    assert not report.passed, report
    assert report.outcome in expected.outcomes, report
    assert expected.reason in report.feedback, report.feedback
    assert report.feedback.strip()


@pytest.mark.parametrize("name", CASES)
def test_abuse_fails_with_a_reason(fresh_pool: SandboxPool, name: str) -> None:
    expected = CASES[name]
    standing = _settled_count(fresh_pool)
    report = fresh_pool.run(expected.code, expected.tests, timeout=expected.timeout)
    _assert_failed(report, expected)
    _check_recovers(fresh_pool, standing, report)


def test_output_flood_is_stopped_at_once(fresh_pool: SandboxPool) -> None:
    report = fresh_pool.run(CASES["writing 1 GiB to stdout"].code, TESTS, timeout=30)
    assert report.outcome is TestOutcome.OUTPUT_LIMIT
    assert report.duration < 10  # stopped at the cap, not at the timeout
    assert len(report.output.encode()) <= 1 << 20


@pytest.mark.parametrize(
    "target",
    [
        str(Path(__file__).resolve()),  # this repository
        "/usr/pwned",
        "/etc/pwned",
        "/pwned",
        "/root/pwned",
        str(Path.home() / "pwned"),
    ],
)
def test_writing_outside_its_folder_fails(fresh_pool: SandboxPool, target: str) -> None:
    before = Path(target).read_bytes() if Path(target).exists() else None
    code = f"with open({target!r}, 'w') as f:\n    f.write('owned')\n"
    report = fresh_pool.run(code, ALWAYS_PASSES, timeout=5)
    assert not report.passed
    assert report.outcome is TestOutcome.FAILED
    assert report.failures[0].exception in ("FileNotFoundError", "PermissionError", "OSError")
    after = Path(target).read_bytes() if Path(target).exists() else None
    assert after == before


def test_dev_is_read_only_so_nothing_there_reaches_the_next_run(fresh_pool: SandboxPool) -> None:
    # Found by a review: /dev was a writable tmpfs of its own, uncapped and never
    # wiped, so one run left a file there for the next.
    write = textwrap.dedent("""
        import os
        refused = []
        for attempt in (lambda: open("/dev/x", "w"), lambda: os.mkfifo("/dev/fifo")):
            try:
                attempt()
            except OSError:
                refused.append(True)
        with open("/dev/null", "w") as sink:
            sink.write("devices still work")
        noise = os.urandom(8)
    """)
    tests = "assert refused == [True, True]\nassert len(noise) == 8\n"
    read = "import os\nassert {'x', 'fifo'}.isdisjoint(os.listdir('/dev')), os.listdir('/dev')\n"
    reports = fresh_pool.run_batch([(write, tests), ("", read)], timeout=5)
    assert [r.passed for r in reports] == [True, True], [r.feedback for r in reports]


def test_files_inside_its_folder_do_not_reach_the_next_run(fresh_pool: SandboxPool) -> None:
    write = "import os\nos.makedirs('a/b', exist_ok=True)\nopen('a/b/c', 'w').write('x')\n"
    write += "os.chmod('a/b', 0)\nopen('/dev/shm/x', 'w').write('x')\n"
    read = "import os\nassert os.listdir('.') == [], os.listdir('.')\n"
    read += "assert os.listdir('/dev/shm') == []\n"
    reports = fresh_pool.run_batch([(write, ALWAYS_PASSES), ("", read)], timeout=5)
    assert [r.passed for r in reports] == [True, True], [r.feedback for r in reports]


def test_no_network_not_even_the_hosts_loopback(fresh_pool: SandboxPool) -> None:
    accepted: list[object] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]

        def serve() -> None:
            with contextlib.suppress(OSError):
                accepted.append(server.accept())

        code = textwrap.dedent(f"""
            import socket
            errors = []
            for address in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
                try:
                    socket.create_connection(address, timeout=1).close()
                except OSError as exc:
                    errors.append(type(exc).__name__)
            assert len(errors) == 3, errors
            socket.getaddrinfo("example.com", 80)
        """)
        thread = threading.Thread(target=serve)
        thread.start()
        report = fresh_pool.run(code, ALWAYS_PASSES, timeout=10)
        thread.join()
    assert not report.passed
    assert report.failures[0].exception == "gaierror", report.feedback
    assert accepted == []


def test_reference_solutions_and_data_are_out_of_reach(
    fresh_pool: SandboxPool, tmp_path: Path
) -> None:
    reference = tmp_path / "reference.py"
    reference.write_text("def answer():\n    return 42\n")
    reference.chmod(0o644)
    tmp_path.chmod(0o755)
    paths = [str(reference), str(Path(__file__).resolve()), "/work/shared/data/README.md"]
    code = textwrap.dedent(f"""
        found = []
        for path in {paths!r}:
            try:
                found.append(open(path).read())
            except OSError:
                pass
        exec(found[0]) if found else None
    """)
    report = fresh_pool.run(code, TESTS, timeout=5)
    assert not report.passed
    assert "NameError" in report.feedback


def test_files_it_cannot_delete_get_a_fresh_sandbox(fresh_pool: SandboxPool) -> None:
    # Nested deeper than the launcher's rmtree can recurse: the launcher reports
    # the folder dirty and the pool starts a new sandbox (and a new /tmp).
    deep = "import os\nfor _ in range(1200):\n    os.mkdir('d')\n    os.chdir('d')\n"
    read = "import os\nassert os.listdir('/tmp') == [], os.listdir('/tmp')\n"
    reports = fresh_pool.run_batch([(deep, ALWAYS_PASSES), ("", read)], timeout=10)
    assert [r.passed for r in reports] == [True, True], [r.feedback for r in reports]


def test_a_stopped_launcher_is_killed_and_replaced(
    fresh_pool: SandboxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolthink.tool import worker  # noqa: PLC0415

    monkeypatch.setattr(worker, "_GRACE_SECONDS", 1.0)  # instead of waiting 10 s
    standing = _settled_count(fresh_pool)
    # From inside, SIGSTOP does not reach the launcher (pid 1 of its namespace).
    code = "import os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\ntime.sleep(60)\n"
    report = fresh_pool.run(code, ALWAYS_PASSES, timeout=1.0)
    assert report.outcome is TestOutcome.TIMEOUT, report
    _check_recovers(fresh_pool, standing, report)
    # Stopped from outside (a hung launcher), it is killed and replaced.
    if not CAN_SEE_PROCESSES:
        return
    worker = fresh_pool._workers[0]
    assert worker.proc is not None
    outer = worker.proc.pid
    launcher = int(Path(f"/proc/{outer}/task/{outer}/children").read_text().split()[0])
    os.kill(launcher, signal.SIGSTOP)
    report = fresh_pool.run(GOOD, TESTS, timeout=1.0)
    assert report.outcome is TestOutcome.SANDBOX_ERROR
    assert "stopped answering" in report.feedback
    _check_recovers(fresh_pool, standing, report)
