"""The tests' process: forked for one job, it runs the tests against the candidate's names.

Part of the separate mode's program (`toolthink.tool.programs`), before the
`toolthink.tool._tests_runner.Pair` that forks it (`_child`). It drops every
capability, sets its own resource limits, has the candidate's process set
the same (before any code runs), sends the code over the channel, runs the
tests in a fresh ``__main__`` whose names stand for the candidate's
(`toolthink.tool._proxies`), writes the verdict on fd 3, and lists each
failing test after a failure. Standard library only; ``proxies`` is in its
globals (the launcher execs the program with it).


Why the verdict cannot be forged from the candidate's process. The tests, their
expected values and the secret exist only in the launcher and the tests'
process; neither runs the candidate's code, and the tests' process receives
only plain data, decoded by pure Python with bounds (never ``marshal``, which
builds code objects and is unsafe on crafted input). The candidate holds no
descriptor of the record channel or of the host's pipes. What is left is
access from outside:

- with bubblewrap there is no /proc, and seccomp denies ptrace,
  process_vm_readv/writev and ``pidfd_getfd`` (`toolthink.tool.isolation`);
- the processes share a uid, and ``pidfd_getfd`` hands a process another's
  descriptors, ``/proc/<pid>/mem`` (in the fallback, which has /proc and no
  seccomp filter) its memory. Both need ptrace access, which the kernel
  refuses without ``CAP_SYS_PTRACE`` to a non-dumpable target: the launcher
  makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``) before any run,
  or the sandbox does not start, and forks keep the flag (an exec'd
  interpreter would lose it); in the fallback as root every process of the
  sandbox is non-dumpable anyway (real uid unlike effective, `toolthink.tool.uids`);
- the candidate can still signal the tests' process or lower its resource
  limits (same uid). Either makes the tests fail or the run end without a
  verdict, never pass: SIGINT is ignored, any other signal the tests' process
  does not handle ends it, and a PASS needs its limits unchanged.

A different uid for the tests (the alternative) needs privileges the sandbox
does not have; running the tests on the host would put dataset code and
candidate-chosen values in the trainer's process.
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # (no stub; `signal` imports enum)
import faulthandler
import io
import marshal
import os
import resource
import select
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

    from toolthink.tool import _proxies as proxies

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._code_module import _MESSAGE_CHARS, _text
    from toolthink.tool._records import (
        _VERDICT_FD,
        _Enough,
        _failure_recorder,
        _mute_output,
        _record,
    )

GONE = 86
"""Exit status of a tests' process whose candidate ended before the verdict."""
_ASSERT_NAME = "__toolthink_assert__"  # called before each assert (the launcher's rewrite)
_LIMITS = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE",
           "RLIMIT_CORE")  # fmt: skip


class _Stop(BaseException):
    """The explanation's time is up."""



def _child(job: dict[str, Any], compiled: tuple[bytes, bytes, Any],
           rlimits: list[tuple[int, int, int]], kernel: Any, fds: tuple[int, ...]) -> None:
    """The tests' process, right after the fork: descriptors, capabilities, limits, the run."""
    status = 3
    try:
        out_w, rec_w, requests, replies, candidate_fd = fds
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd, source in ((0, null), (1, out_w), (2, out_w), (3, rec_w)):
            os.dup2(source, fd)
        keep = sorted({requests, replies, candidate_fd})
        os.closerange(4, keep[0])
        for low, high in zip(keep, [*keep[1:], 1 << 16], strict=True):
            os.closerange(low + 1, high)
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):  # unbuffered, as `-u`
            raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
            stream = io.TextIOWrapper(raw, "utf-8", "backslashreplace", write_through=True)
            setattr(sys, name, stream)
            setattr(sys, "__" + name + "__", stream)
        kernel.drop_capabilities()
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the candidate may signal this process
        status = _serve(job, compiled, rlimits, proxies.Channel(requests, replies), candidate_fd)
    except BaseException as exc:  # (a bug here: say so, give no verdict)
        _record(kind="harness", message=f"the tests' process failed: {type(exc).__name__}: {exc}")
    os._exit(status)



def _describe(exc: BaseException) -> dict[str, object]:
    """Type, message, the code's line (sent by the candidate) and the tests' deepest line."""
    test_line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            test_line = tb.tb_lineno
        tb = tb.tb_next
    code_line = exc.__dict__.get("_toolthink_code_line") if hasattr(exc, "__dict__") else None
    if type(code_line) is not int:
        code_line = None
    return {"type": type(exc).__name__, "message": _text(exc), "code_line": code_line,
            "test_line": test_line}  # fmt: skip


def _own_limits() -> list[tuple[int, int]]:
    return [resource.getrlimit(getattr(resource, name)) for name in _LIMITS]


def _load(channel: proxies.Channel, code: str, seconds: float, *, again: bool = False) -> Any:
    """Send the code; record a syntax error or the code's own exception; return its names.

    ``seconds``: when the candidate dumps its traceback (0: never).
    ``again``: the reload of the explanation, which records nothing of the
    kind (the first load, which did, succeeded).
    """
    reply = channel.ask(("load", code, seconds))
    if reply[0] == "loaded" and len(reply) == 2:
        return reply[1]
    if again:
        msg = "the code did not load a second time"
        raise proxies.BoundaryError(msg)
    if reply[0] == "syntax" and len(reply) == 6:
        _kind, name, message, line, column, text = reply
        _record(kind="syntax", type=str(name)[:100], message=str(message)[:_MESSAGE_CHARS],
                line=line if type(line) is int else None,
                column=column if type(column) is int else None, text=str(text)[:200])  # fmt: skip
        return None
    if reply[0] == "raise" and len(reply) == 2:
        try:
            proxies.raise_error(reply[1])
        except BaseException as exc:  # (the code failed before the tests ran)
            _record(kind="failure", phase=1, stage="code", **_describe(exc))
        return None
    msg = "the code's process answered out of protocol"
    raise proxies.BoundaryError(msg)


def _limit_candidate(channel: proxies.Channel, rlimits: list[tuple[int, int, int]]) -> None:
    """Have the candidate's process set the run's limits on itself before any code runs.

    Raises:
        proxies.BoundaryError: It did not answer that it did (no verdict can pass then).
    """
    reply = channel.ask(("limits", [list(triple) for triple in rlimits]))
    if reply != ("ok", None):
        msg = "the code's process could not set its resource limits"
        raise proxies.BoundaryError(msg)


def _ended(candidate_fd: int, seconds: float) -> bool:
    """Whether the candidate's process has ended, waiting up to ``seconds``."""
    poller = select.poll()
    poller.register(candidate_fd, select.POLLIN)
    return bool(poller.poll(int(seconds * 1000)))


def _serve(job: dict[str, Any], compiled: tuple[bytes, bytes, Any],
           rlimits: list[tuple[int, int, int]], channel: proxies.Channel,
           candidate_fd: int) -> int:  # fmt: skip
    """Phase 1 and the verdict, then the explanation of a failure; the exit status.

    The verdict is ``PASS`` when the tests ran to the end and at least one
    ``assert`` of theirs ran (the launcher's rewrite calls
    ``__toolthink_assert__`` before each: counted here, out of the candidate's
    reach), ``EMPTY`` when they ran to the end without one, else ``FAIL``.
    """
    timeout = float(job["timeout"])
    faulthandler.enable(file=_VERDICT_FD)
    try:  # noqa: SIM105 (where a timed-out run was: a nicety)
        faulthandler.dump_traceback_later(max(timeout - 0.2, timeout * 0.8), file=_VERDICT_FD)
    except RuntimeError:
        pass
    tests: CodeType = marshal.loads(compiled[0])
    secret: str = job.pop("secret")
    limits = _own_limits()
    ok: bool | None = False
    failure: BaseException | None = None
    asserts = [0]

    def counted() -> None:
        asserts[0] += 1

    try:
        _limit_candidate(channel, rlimits)
        table = _load(channel, job["code"], max(timeout - 0.2, timeout * 0.8))
        if table is not None:
            keep = proxies.builtins_kept(job["tests"])
            names = proxies.namespace(channel, table, tests, keep)
            names[_ASSERT_NAME] = counted  # (a dunder name: never one of the candidate's)
            try:
                exec(tests, names)
                ok = True if asserts[0] else None  # None: no assert ran
            except proxies.Gone:
                raise
            except BaseException as exc:  # (SystemExit and all count as failures)
                failure = exc
    except proxies.Gone:
        pass
    except proxies.BoundaryError as exc:  # the candidate broke the protocol outside the tests
        failure = exc
    if channel.gone:  # (even if the tests caught it): no pass with a vanished candidate
        ok = False
        if _ended(candidate_fd, 0.2):
            return GONE  # the launcher reports how the candidate ended
        failure = proxies.BoundaryError("the code's process closed its channel to the tests")
    if ok and _own_limits() != limits:
        ok = False
        failure = proxies.BoundaryError("the code changed the tests' resource limits")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    word = " PASS\n" if ok else " EMPTY\n" if ok is None else " FAIL\n"
    os.write(_VERDICT_FD, ("\nV " + secret + word).encode())
    if failure is not None:
        _record(kind="failure", phase=1, stage="tests", **_describe(failure))
        if float(job["explain_seconds"]) > 0:
            _explain(job, compiled, channel)
    return 0


def _explain(job: dict[str, Any], compiled: tuple[bytes, bytes, Any],
             channel: proxies.Channel) -> None:  # fmt: skip
    """Reload the code in the candidate and record each failing test of the isolated tests."""
    limit, seconds = int(job["max_failures"]), float(job["explain_seconds"])
    _mute_output()
    record, count = _failure_recorder(limit, _describe)

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    complete = True
    try:
        channel.ask(("quiet",))
        isolated = marshal.loads(compiled[1])
        table = _load(channel, job["code"], 0, again=True)
        if table is not None:
            names = proxies.namespace(channel, table, isolated,
                                      proxies.builtins_kept(job["tests"]))
            names["__toolthink_record__"] = record
            exec(isolated, names)
    except (_Enough, _Stop, proxies.Gone):
        complete = False
    except BaseException as exc:  # (a failure outside any assert ends the list)
        count[0] += 1
        _record(kind="failure", phase=2, **_describe(exc))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _record(kind="explained", count=count[0], complete=complete)
