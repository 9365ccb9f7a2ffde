"""The separate test process: what the candidate cannot do there, and what still works.

Each attack below runs in a bubblewrap pool with ``tests_process="separate"``
and must fail; where the same attack forges a pass with the tests in the
candidate's process, a test says so (so the attack is a real one, not one that
cannot work anywhere). Then the semantics the mode keeps: the same feedback as
the one-process harness for a table of programs, exceptions by builtin class,
constants, modules, iterators, crashes and exits, and the per-suite fallback.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator

import attrs
import pytest

from tests.tool.conftest import ABUSE_UID, CAN_SEE_PROCESSES, FALLBACK_UID, assert_processes_settle
from toolthink.tool import Isolation, SandboxConfig, SandboxPool, TestOutcome
from toolthink.tool.boundary import TestsProcess, choose_tests_process

SECRET_VALUE = 918273645
TESTS = f"assert answer() == {SECRET_VALUE}\n"


@pytest.fixture(scope="module")
def separate(bwrap_config: SandboxConfig) -> Iterator[SandboxPool]:
    """One bubblewrap worker, tests in a process of their own; nothing left after it."""
    with SandboxPool(attrs.evolve(bwrap_config, tests_process="separate")) as pool:
        yield pool
    if CAN_SEE_PROCESSES:
        assert_processes_settle(ABUSE_UID, 0)


@pytest.fixture(scope="module")
def same(bwrap_config: SandboxConfig) -> Iterator[SandboxPool]:
    """The one-process harness, for the attacks that work there."""
    with SandboxPool(attrs.evolve(bwrap_config, tests_process="same")) as pool:
        yield pool


SEARCH = textwrap.dedent(f"""
    import gc, inspect, os, sys
    BACKWARDS = "{str(SECRET_VALUE)[::-1]}"  # (the value itself must not be in this code)

    def texts():
        frame = sys._getframe()
        while frame is not None:
            yield repr(frame.f_code.co_consts)
            yield repr(dict(frame.f_locals))
            yield repr(dict(frame.f_globals))
            frame = frame.f_back
        for info in inspect.stack():
            yield repr(info.frame.f_code.co_consts)
        yield repr(vars(sys.modules["__main__"]))
        for obj in gc.get_objects():
            yield repr(getattr(obj, "co_consts", ""))
        for path in ("/proc/self/cmdline", "/proc/self/environ"):
            try:
                yield open(path, "rb").read().decode("latin-1")
            except OSError:
                pass

    def answer():
        for text in texts():
            if BACKWARDS[::-1] in text:
                print("found the expected value")
                return int(BACKWARDS[::-1])
        return -1
""")


def test_the_tests_are_not_in_the_candidates_memory(separate: SandboxPool) -> None:
    report = separate.run(SEARCH, TESTS, timeout=20)
    assert report.tests_process is TestsProcess.SEPARATE
    assert report.outcome is TestOutcome.FAILED, report
    assert "found" not in report.output


def test_reading_the_tests_forges_a_pass_in_one_process(same: SandboxPool) -> None:
    # The same search in the one-process harness finds the value in the tests'
    # frame (the guard refuses gc, not frames).
    code = SEARCH.replace("for obj in gc.get_objects():", "for obj in ():")
    report = same.run(code, TESTS, timeout=20)
    assert report.passed, report.feedback
    assert "found the expected value" in report.output


ALWAYS_EQUAL = """
class Anything:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__

def answer():
    return Anything()
"""
STR_SUBCLASS = """
class Sly(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__

def answer():
    return Sly("no")
"""


@pytest.mark.parametrize(("code", "type_name"), [(ALWAYS_EQUAL, "Anything"),
                                                 (STR_SUBCLASS, "Sly")])  # fmt: skip
def test_candidate_objects_cannot_cross(
    separate: SandboxPool, same: SandboxPool, code: str, type_name: str
) -> None:
    report = separate.run(code, TESTS, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert f"answer() returned an object of type {type_name}" in report.feedback
    assert report.failures[0].test_line == 1
    assert same.run(code, TESTS, timeout=10).passed  # the attack is real


def test_a_stop_iteration_cannot_cut_the_tests_short(
    separate: SandboxPool, same: SandboxPool
) -> None:
    code = "def double(x):\n    raise StopIteration\n"
    tests = "assert list(map(double, [1, 2])) == []\n"  # true only if map stops early
    assert same.run(code, tests, timeout=10).passed  # the attack is real
    report = separate.run(code, tests, timeout=10)
    assert report.outcome is TestOutcome.FAILED
    assert "StopIteration (raised at line 2 of the code)" in report.feedback


def test_the_candidate_cannot_shadow_the_tests_builtins(
    separate: SandboxPool, same: SandboxPool
) -> None:
    code = "def abs(x):\n    return 0\n\ndef area(r):\n    return 3\n"
    tests = "assert abs(area(1) - 3.14159) < 1e-3\n"
    assert same.run(code, tests, timeout=10).passed  # the attack is real
    report = separate.run(code, tests, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    # A function named like a builtin still reaches tests that do not call it
    # directly (MBPP/126 is `sum`).
    code = "def sum(a, b):\n    return a * b\n"
    tests = "def check(candidate):\n    assert candidate(2, 3) == 6\ncheck(sum)\n"
    assert separate.run(code, tests, timeout=10).passed


def test_the_tests_import_the_standard_library_not_the_candidates_files(
    separate: SandboxPool, same: SandboxPool
) -> None:
    code = textwrap.dedent("""
        import sys
        with open("/tmp/heapq.py", "w") as out:
            out.write("def nsmallest(n, xs):\\n    return [42]\\n")
        sys.path.insert(0, "/tmp")
        sys.modules.pop("heapq", None)

        def answer():
            return 0
    """)
    tests = "import heapq\nassert heapq.nsmallest(1, [answer()]) == [42]\n"
    assert same.run(code, tests, timeout=10).passed  # the attack is real
    report = separate.run(code, tests, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report


def test_the_tests_globals_are_out_of_reach(separate: SandboxPool) -> None:
    code = textwrap.dedent("""
        import builtins, sys
        sys.modules["__main__"].__dict__["expected"] = 4
        builtins.check = lambda candidate: None

        def add(a, b):
            frame = sys._getframe()
            while frame is not None:
                frame.f_globals["expected"] = 4
                frame.f_globals["check"] = lambda candidate: None
                frame = frame.f_back
            return a - b
    """)
    tests = ("expected = 5\ndef check(candidate):\n    assert candidate(2, 2) == expected\n"
             "check(add)\n")
    report = separate.run(code, tests, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert report.failures[0].test_line == 3


AUDIT_HOOK_FORGE = """
import os, sys

def hook(event, args):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, (bytes, str)) and "PASS" in str(value):
                os.write(3, value if isinstance(value, bytes) else value.encode())
        frame = frame.f_back

sys.addaudithook(hook)

def add(a, b):
    return a - b
"""


def test_an_audit_hook_sees_no_verdict(separate: SandboxPool) -> None:
    # The forge of issue 14: a candidate's audit hook reading the guard's frame.
    # Here no guard, secret or verdict is in the candidate's process at all.
    report = separate.run(AUDIT_HOOK_FORGE, "assert add(1, 2) == 3\n", timeout=10)
    assert not report.passed, report
    assert report.outcome is TestOutcome.FAILED


def test_a_generator_is_iterated_remotely_never_compared(separate: SandboxPool) -> None:
    code = "def numbers():\n    yield 1\n    yield [2, 3]\n"
    assert separate.run(code, "assert list(numbers()) == [1, [2, 3]]\n", timeout=10).passed
    report = separate.run(code, "assert numbers() == [1, [2, 3]]\n", timeout=10)
    assert report.outcome is TestOutcome.FAILED


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("nested = []\nfor _ in range(200):\n    nested = [nested]\n", "nested deeper than 100"),
        ("nested = list(range(2_000_000))\n", "more than 1000000 values"),
        ("nested = b'x' * (40 << 20)\n", "more than 33554432 bytes"),
    ],
    ids=["deep", "many", "large"],
)
def test_huge_or_deep_values_do_not_cross(separate: SandboxPool, value: str, reason: str) -> None:
    code = "def answer():\n" + textwrap.indent(value, "    ") + "    return nested\n"
    report = separate.run(code, TESTS, timeout=20)
    assert report.outcome is TestOutcome.FAILED, report
    assert f"answer() returned {reason}" in report.feedback


def test_exceptions_cross_by_builtin_class(separate: SandboxPool) -> None:
    code = "class Oops(ValueError):\n    pass\n\ndef parse(text):\n    raise Oops('bad ' + text)\n"
    caught = "try:\n    parse('x')\nexcept ValueError as exc:\n    assert str(exc) == 'bad x'\n"
    assert separate.run(code, caught, timeout=10).passed
    report = separate.run(code, "assert parse('y') == 1\n", timeout=10)
    assert report.feedback == (
        "1 test failed:\n- line 1 of the tests: assert parse('y') == 1\n"
        "  Oops: bad y (raised at line 5 of the code)"
    )


# (code, tests): the feedback must be the one-process harness's, word for word.
SAME_FEEDBACK = {
    "passes": ("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3\n"),
    "two failures": ("def add(a, b):\n    return a - b\n",
                     "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(2, 0) == 2\n"),
    "key error": ("def get(d):\n    return d['x']\n", "assert get({}) == 1\n"),
    "syntax error": ("def add(a, b:\n    return a\n", "assert add(1, 2) == 3\n"),
    "fails at import": ("raise RuntimeError('at import')\n", "assert True\n"),
    "sys.exit in a call": ("import sys\ndef f():\n    sys.exit(3)\n", "f()\nassert True\n"),
    "os._exit": ("import os\ndef f():\n    os._exit(0)\n", "f()\nassert True\n"),
    "no assert statement": ("def f():\n    return 1\n", "f()\n"),
    "a check never called": ("def f():\n    return 1\n",
                             "def check(candidate):\n    assert candidate() == 1\n"),
    "check(candidate)": ("def inc(x):\n    return x + 2\n",
                         "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(inc)\n"),
    "constants and modules": ("import math\nLIMIT = {'a': [1.5, float('inf')]}\n"
                              "def area(r):\n    return math.pi * r * r\n",
                              "assert LIMIT['a'][1] == math.inf\nassert area(1) == math.pi\n"),
    "keyword arguments": ("def f(a, *, b=2):\n    return (a, b)\n", "assert f(1, b=3) == (1, 3)\n"),
    "collections": ("from collections import Counter\ndef f(s):\n    return Counter(s)\n",
                    "assert f('aab') == {'a': 2, 'b': 1}\n"
                    "assert f('a').most_common() == [('a', 1)]\n"),
    "a builtin type as argument": ("def keep(xs, kind):\n"
                                   "    return [x for x in xs if isinstance(x, kind)]\n",
                                   "assert keep([1, 'a', 2], int) == [1, 2]\n"),
}  # fmt: skip


def test_tests_that_run_no_assert_never_pass(separate: SandboxPool) -> None:
    # Counted in the tests' process: the candidate's process has no counter to raise.
    code = ("import builtins\ndef f():\n    return 1\n"
            "builtins.__toolthink_assert__ = lambda: None\n")  # fmt: skip
    never_called = "def check(candidate):\n    assert candidate() == 1\n"
    report = separate.run(code, never_called, timeout=10)
    assert report.tests_process is TestsProcess.SEPARATE
    assert (report.passed, report.outcome) == (False, TestOutcome.NO_ASSERTIONS)
    report = separate.run(code, "f()\n", timeout=10)
    assert (report.passed, report.outcome) == (False, TestOutcome.NO_ASSERTIONS)
    assert separate.run(code, never_called + "check(f)\n", timeout=10).passed


@pytest.mark.parametrize("name", SAME_FEEDBACK)
def test_feedback_is_the_one_process_harness_s(
    separate: SandboxPool, same: SandboxPool, name: str
) -> None:
    code, tests = SAME_FEEDBACK[name]
    ours, theirs = separate.run(code, tests, timeout=10), same.run(code, tests, timeout=10)
    assert (ours.outcome, ours.feedback) == (theirs.outcome, theirs.feedback)
    assert ours.tests_process is TestsProcess.SEPARATE


def test_a_crash_is_a_crash(separate: SandboxPool) -> None:
    # (The one-process harness may pass this one: the signal reaches its main
    # thread while the runner thread finishes the tests.)
    code = "import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    report = separate.run(code, "f()\nassert True\n", timeout=10)
    assert report.outcome is TestOutcome.CRASHED
    assert report.feedback.endswith("(SIGSEGV). It was running line 3 of the code.")


def test_output_and_timeouts_as_before(separate: SandboxPool) -> None:
    report = separate.run("def f():\n    print('from the code')\n    return 1\n",
                          "print('from the tests')\nassert f() == 1\n", timeout=10)  # fmt: skip
    assert report.passed
    assert report.output == "from the tests\nfrom the code\n"
    report = separate.run("def f():\n    while True:\n        pass\n", "f()\nassert True\n",
                          timeout=1)  # fmt: skip
    assert report.outcome is TestOutcome.TIMEOUT


def test_the_sandboxes_other_processes_are_out_of_reach(separate: SandboxPool) -> None:
    # pidfd_getfd hands one process another's descriptors, unless the target is
    # non-dumpable (the launcher and the tests' process are) or seccomp denies
    # it (bubblewrap's filter here does). Pid 1 is the launcher (--as-pid-1).
    code = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)

        def probe():
            seen, taken = [], []
            for pid in range(1, 4096):
                if pid == os.getpid():
                    continue
                try:
                    pidfd = os.pidfd_open(pid)
                except OSError:
                    continue
                seen.append(pid)
                for fd in range(8):
                    got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
                    if got >= 0:
                        taken.append((pid, fd))
                        os.close(got)
            return seen, taken
    """)
    # Seen: the launcher (pid 1, the candidate's parent) and the tests' process.
    tests = ("seen, taken = probe()\nassert 1 in seen and len(seen) >= 2, seen\n"
             "assert taken == [], taken\n")
    report = separate.run(code, tests, timeout=20)
    assert report.passed, report.feedback


def test_lowering_the_tests_process_limits_fails_the_run(separate: SandboxPool) -> None:
    # Same uid: prlimit on another process is allowed. The tests' process checks
    # its own limits before a PASS.
    code = textwrap.dedent("""
        import os, resource

        def answer():
            for pid in range(1, 4096):
                if pid != os.getpid():
                    try:
                        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft - 1, hard))
                    except OSError:
                        pass
            return 42
    """)
    report = separate.run(code, "assert answer() == 42\n", timeout=20)
    assert report.outcome is TestOutcome.FAILED, report
    assert "the code changed the tests' resource limits" in report.feedback


def test_the_fallback_keeps_the_tests_process_out_of_reach() -> None:
    config = SandboxConfig(workers=1, bwrap=f"missing-{uuid.uuid4().hex}", uid=FALLBACK_UID,
                           tests_process="separate")  # fmt: skip
    code = textwrap.dedent("""
        import os

        def probe():
            opened = []
            for name in os.listdir("/proc"):
                if name.isdigit() and int(name) != os.getpid():
                    try:
                        os.close(os.open(f"/proc/{name}/mem", os.O_RDONLY))
                        opened.append(int(name))
                    except OSError:
                        pass
            return opened
    """)
    with SandboxPool(config) as pool:
        assert pool.isolation is Isolation.PROCESS
        report = pool.run(code, "assert probe() == []\n", timeout=20)
    assert report.passed, report.feedback
    assert report.tests_process is TestsProcess.SEPARATE


def test_tests_that_define_classes_fall_back_per_suite(separate: SandboxPool) -> None:
    node = "class Node:\n    def __init__(self, value):\n        self.value = value\n"
    report = separate.run("def value(node):\n    return node.value\n",
                          node + "assert value(Node(3)) == 3\n", timeout=10)  # fmt: skip
    assert report.passed, report.feedback
    assert report.tests_process is TestsProcess.SAME
    # The candidate's own classes never choose the mode: only the tests do.
    report = separate.run(node + "def make():\n    return Node(1)\n", "assert make()\n", timeout=10)
    assert report.tests_process is TestsProcess.SEPARATE
    assert "make() returned an object of type Node" in report.feedback


@pytest.mark.parametrize(
    ("tests", "expected"),
    [
        ("assert f() == 1\n", TestsProcess.SEPARATE),
        ("class Node:\n    pass\nassert f(Node())\n", TestsProcess.SAME),
        ("def t():\n    class Local:\n        pass\n", TestsProcess.SAME),
        ("assert (\n", TestsProcess.SAME),
        ("account = BankAccount(10)\nassert account.balance == 10\n", TestsProcess.SAME),
        ("try:\n    f()\nexcept ValueError:\n    raise AssertionError('no')\n",
         TestsProcess.SEPARATE),
        ("from fractions import Fraction\nassert f(Fraction(1, 2))\n", TestsProcess.SAME),
        ("Pair = tuple\nassert f(Pair([1, 2]))\n", TestsProcess.SEPARATE),
    ],
)
def test_choose_tests_process(tests: str, expected: TestsProcess) -> None:
    assert choose_tests_process(TestsProcess.SEPARATE, tests) is expected
    assert choose_tests_process(TestsProcess.SAME, tests) is TestsProcess.SAME


def test_a_bad_mode_is_named() -> None:
    with pytest.raises(ValueError, match="tests_process must be 'separate' or 'same', got 'both'"):
        SandboxConfig(tests_process="both")  # type: ignore[arg-type]
