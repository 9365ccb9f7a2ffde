"""Red team, issue 14: forged verdicts, state carried between runs, empty tests.

Each reproducer was run against the tree before the fix and forged a pass (or
leaked, or passed empty tests) there; here it must not. The candidate under
test is always wrong (``return a - b`` against ``assert add(1, 2) == 3``), so
only a forgery could pass it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import attrs
import pytest

from tests.tool.conftest import CAN_SEE_PROCESSES
from toolthink.tool import SandboxConfig, SandboxPool, TestOutcome, run_tests
from toolthink.tool.boundary import TestsProcess

WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(1, 2) == 3\n"

# An audit hook of the candidate's runs after the guard on every event, also
# on those the guard itself raises while it holds the pass line in a local:
# from there, the guard's frame is one step up.
HOOK = textwrap.dedent(r"""
    import os, re, sys
    LINE = re.compile(rb"\nV [0-9a-f]{32} PASS\n")

    def hook(event, args):
        try:
            frame = sys._getframe(1)
        except Exception:
            return
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, bytes) and LINE.fullmatch(value):
                    os.write(3, value)
                    os._exit(0)
            frame = frame.f_back

    sys.addaudithook(hook)
""")

HOOK_TRIGGERS = {
    # The guard reads tb_frame to see whether the frame is its own.
    "reading a traceback's frame": "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n"
                                   "    e.__traceback__.tb_frame\n",
    # The guard calls sys._getframe at the verdict: nothing more is needed.
    "the verdict's own sys._getframe": "",
}  # fmt: skip


@pytest.fixture(params=["same", "separate"])
def either_pool(
    request: pytest.FixtureRequest, bwrap_config: SandboxConfig
) -> Iterator[SandboxPool]:
    """A new one-worker bubblewrap pool in each tests process (`toolthink.tool.boundary`)."""
    with SandboxPool(attrs.evolve(bwrap_config, tests_process=request.param)) as new:
        yield new


@pytest.mark.parametrize("trigger", HOOK_TRIGGERS)
def test_a_candidate_audit_hook_cannot_read_the_pass_line(
    either_pool: SandboxPool, trigger: str
) -> None:
    code = HOOK + HOOK_TRIGGERS[trigger] + WRONG
    report = either_pool.run_batch([(code, TESTS)], timeout=10)[0]
    assert report.outcome is TestOutcome.FAILED, report
    one_shot = run_tests(code, TESTS, timeout=10)  # the process-wide pool
    assert one_shot.outcome is TestOutcome.FAILED, one_shot


def test_sys_addaudithook_adds_no_hook(fresh_pool: SandboxPool) -> None:
    code = ("import sys\nseen = []\nsys.addaudithook(lambda event, args: seen.append(event))\n"
            "sys.audit('anything')\nopen('/dev/null').close()\n")  # fmt: skip
    report = fresh_pool.run(code, "assert seen == [], seen\n", timeout=10)
    assert report.passed, report.feedback


# Other ways to run candidate code while the guard's frame is on the stack.
SIBLINGS = {
    "a profiler's own timer (cProfile)": """
        import cProfile, sys
        def timer():
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if isinstance(value, bytes) and value.endswith(b" PASS\\n"):
                        import os
                        os.write(3, value)
                        os._exit(0)
                frame = frame.f_back
            return 0
        cProfile.Profile(timer).enable()
    """,
    "threading.setprofile for the runner's next threads": """
        import threading, sys
        threading.setprofile(lambda frame, event, arg: None)
        threading.Thread(target=lambda: None).start()
        sys.setprofile(lambda frame, event, arg: None)
    """,
}


@pytest.mark.parametrize("name", SIBLINGS)
def test_no_other_callback_runs_inside_the_guard(fresh_pool: SandboxPool, name: str) -> None:
    report = fresh_pool.run(textwrap.dedent(SIBLINGS[name]) + WRONG, TESTS, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert "sys.setprofile is not allowed during tests" in report.feedback, report.feedback


# The fallback: the pass line in the harness's memory, read through
# /proc/self/mem under another name (a symlink, a descriptor, a relative path).
MEMORY = textwrap.dedent(r"""
    import os, re
    # Each passes the guard's check of the path's last part (an audit event
    # carries the path as given: here a link's name).
    OPENERS = {
        "symlink": lambda: (os.symlink("/proc/self/mem", "innocent"), open("innocent", "rb", 0))[1],
        "thread symlink": lambda: (os.symlink("/proc/thread-self/mem", "t"), open("t", "rb", 0))[1],
        "hard link to the link": lambda: (os.symlink("/proc/self/mem", "l"), os.link("l", "h"),
                                          open("h", "rb", 0))[2],
    }
    def forge(name):
        mem = OPENERS[name]()
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
        for fields in regions:
            if "r" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            for line in set(re.findall(rb"\nV [0-9a-f]{32} PASS\n", chunk)):
                os.write(3, line)
        os._exit(0)
""")


@pytest.fixture(scope="module", params=["same", "separate"])
def fallback_pool(request: pytest.FixtureRequest) -> Iterator[SandboxPool]:
    config = SandboxConfig(workers=1, isolation="process", tests_process=request.param)
    with SandboxPool(config) as pool:
        yield pool


@pytest.mark.skipif(not CAN_SEE_PROCESSES, reason="the fallback drops to uids of its own as root")
@pytest.mark.parametrize("opener", ["symlink", "thread symlink", "hard link to the link"])
def test_the_fallback_cannot_read_its_own_memory(fallback_pool: SandboxPool, opener: str) -> None:
    code = MEMORY + WRONG + f"forge({opener!r})\n"
    report = fallback_pool.run(code, TESTS, timeout=20)
    assert report.outcome is TestOutcome.FAILED, report
    assert "Permission denied" in report.feedback, report.feedback


# SysV shared memory and message queues made by a child of run 1 (which, a
# fresh interpreter without the guard, may use ctypes) read back by run 2; with
# the tests apart, the tests' process (forked from the launcher) makes and
# looks for objects of its own too.
SYSV_WRITE = textwrap.dedent('''
    import subprocess, sys
    CHILD = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    shmid = libc.shmget(0x70017, 4096, 0o1666)
    assert shmid >= 0, ctypes.get_errno()
    ctypes.memmove(libc.shmat(shmid, None, 0), b"left by run 1", 13)
    assert libc.msgget(0x70018, 0o1666) >= 0
    """
    rc = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD]).returncode
''')
SYSV_READ = textwrap.dedent('''
    import subprocess, sys
    CHILD = """
    import ctypes, sys
    libc = ctypes.CDLL(None, use_errno=True)
    sys.exit(0 if all(libc.shmget(key, 0, 0) < 0 for key in (0x70017, 0x70019))
             and libc.msgget(0x70018, 0) < 0 else 1)
    """
    rc = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD]).returncode
''')
TESTS_WRITE = ("import ctypes\nlibc = ctypes.CDLL(None)\n"
               "assert libc.shmget(0x70019, 4096, 0o1666) >= 0\nassert rc == 0\n")  # fmt: skip
TESTS_READ = ("import ctypes\nlibc = ctypes.CDLL(None)\n"
              "assert libc.shmget(0x70017, 0, 0) < 0 and libc.shmget(0x70019, 0, 0) < 0\n"
              "assert rc == 0\n")  # fmt: skip


def test_ipc_objects_do_not_reach_the_next_run(either_pool: SandboxPool) -> None:
    apart = either_pool.config.tests_process is TestsProcess.SEPARATE
    # (In the candidate's process the guard refuses ctypes to the tests as well.)
    first = either_pool.run(SYSV_WRITE, TESTS_WRITE if apart else "assert rc == 0\n", timeout=20)
    second = either_pool.run(SYSV_READ, TESTS_READ if apart else "assert rc == 0\n", timeout=20)
    assert first.passed, first.feedback
    assert second.passed, "run 2 saw run 1's SysV IPC objects: " + second.feedback


def test_no_capability_reaches_a_run(either_pool: SandboxPool) -> None:
    # The launcher keeps CAP_SYS_ADMIN (sandbox user namespace) for its IPC
    # namespaces; sethostname needs it in that namespace too. The tests try it
    # as well: with the tests apart they run in a fork of the launcher.
    code = "import socket\ntry:\n    socket.sethostname('x')\nexcept PermissionError:\n    ok = 1\n"
    tests = ("import socket\ntry:\n    socket.sethostname('y')\n    mine = 0\n"
             "except PermissionError:\n    mine = 1\nassert ok and mine\n")  # fmt: skip
    report = either_pool.run(code, tests, timeout=10)
    assert report.passed, report.feedback


PIDFD_GETFD = textwrap.dedent('''
    import subprocess, sys
    CHILD = """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    got = libc.syscall(438, os.pidfd_open(os.getpid()), 1, 0)  # pidfd_getfd
    sys.exit(0 if (got, ctypes.get_errno()) == (-1, 1) else 1)  # EPERM
    """
    rc = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD]).returncode
''')


def test_pidfd_getfd_is_denied(either_pool: SandboxPool) -> None:
    # On its own process the kernel's ptrace check always allows it: only the
    # seccomp filter refuses (EPERM), so a run could not take another's
    # descriptors even from a dumpable process. (In a child: the guard of the
    # candidate's process refuses ctypes.)
    report = either_pool.run(PIDFD_GETFD, "assert rc == 0\n", timeout=10)
    assert report.passed, report.feedback


EMPTY_TESTS = {
    "no tests": ("", "they hold no assert statement"),
    "whitespace": ("  \n\n\t\n", "they hold no assert statement"),
    "comments only": ("# assert add(1, 2) == 3\n", "they hold no assert statement"),
    "calls without a check": ("add(1, 2)\nprint(add(2, 3))\n", "they hold no assert statement"),
    "a check never called": ("def check(candidate):\n    assert candidate(1, 2) == 3\n",
                             "no assert ran"),
    "a check called on nothing": ("def check(c):\n    assert c(1, 2) == 3\nfor c in []:\n"
                                  "    check(c)\n", "no assert ran"),
}  # fmt: skip


@pytest.mark.parametrize("name", EMPTY_TESTS)
def test_tests_without_an_assertion_are_refused(pool: SandboxPool, name: str) -> None:
    tests, why = EMPTY_TESTS[name]
    for code in (WRONG, "def add(a, b):\n    return a + b\n"):
        report = pool.run(code, tests, timeout=10)
        assert report.outcome is TestOutcome.NO_ASSERTIONS, report
        assert not report.passed
        assert report.feedback.startswith("The tests hold no assertion: "), report.feedback
        assert why in report.feedback


def test_run_tests_refuses_empty_tests() -> None:
    report = run_tests("def add(a, b):\n    return a + b\n", "", timeout=10)
    assert report.outcome is TestOutcome.NO_ASSERTIONS
    assert not report.passed


@pytest.mark.skipif(not CAN_SEE_PROCESSES, reason="only root can run the sandbox as root")
def test_a_sandbox_run_as_root_keeps_no_capability(bwrap_config: SandboxConfig) -> None:
    # uid=0 as root: uid 0 inside would keep CAP_SYS_ADMIN across exec, so the
    # sandbox drops every capability (and its runs share one IPC namespace).
    config = attrs.evolve(bwrap_config, uid=0)
    assert not config.plan().ipc_per_run
    code = "import socket\ntry:\n    socket.sethostname('x')\nexcept PermissionError:\n    ok = 1\n"
    with SandboxPool(config) as pool:
        report = pool.run(code, "assert ok\n", timeout=10)
    assert report.passed, report.feedback


# The separate mode's candidates are forked from the zygote (pid 1 of the
# sandbox, `toolthink.tool._zygote`): a run must not be able to stop or kill it
# and so fail the next run, and it must hold nothing of any job.
ATTACK_ZYGOTE = textwrap.dedent("""
    import os, signal
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGSTOP, signal.SIGKILL,
                   signal.SIGHUP, signal.SIGUSR1, signal.SIGSEGV, signal.SIGCHLD):
        for pid in (1, os.getppid()):
            try:
                os.kill(pid, number)
            except OSError:
                pass
""")
FORKED = ("import os, sys\nparent = os.getppid()\npreloaded = 'typing' in sys.modules\n"
          "def add(a, b):\n    return a + b\n")  # fmt: skip


@pytest.fixture
def separate_bwrap(bwrap_config: SandboxConfig) -> Iterator[SandboxPool]:
    with SandboxPool(attrs.evolve(bwrap_config, tests_process="separate")) as new:
        yield new


def test_a_run_cannot_stop_or_kill_the_zygote(separate_bwrap: SandboxPool) -> None:
    attack = separate_bwrap.run(ATTACK_ZYGOTE + FORKED, "assert add(1, 2) == 3\n", timeout=10)
    assert attack.passed, attack.feedback
    report = separate_bwrap.run(FORKED, "assert add(1, 2) == 3\nassert parent == 1\n"
                                "assert preloaded\n", timeout=10)  # fmt: skip
    assert report.passed, report.feedback


def test_a_forked_candidate_finds_no_earlier_job(separate_bwrap: SandboxPool) -> None:
    marker = "toolthink-marker-" + "7" * 12
    first = separate_bwrap.run(FORKED, f"assert add(1, 2) == 3, {marker!r}\n", timeout=10)
    assert first.passed, first.feedback
    scan = textwrap.dedent("""
        import gc
        needle = "toolthink-" + "marker-" + "7" * 12  # (the code's source holds no copy)
        def strings(obj):
            if isinstance(obj, dict):
                yield from (x for pair in obj.items() for x in pair)
            elif isinstance(obj, (list, tuple, set, frozenset)):
                yield from obj
        found = any(isinstance(x, str) and x is not needle and needle in x
                    for obj in gc.get_objects() for x in strings(obj))
    """)
    report = separate_bwrap.run(scan + FORKED, "assert parent == 1\nassert not found\n",
                                timeout=10)  # fmt: skip
    assert report.passed, report.feedback
