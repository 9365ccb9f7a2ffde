"""The separate test process: the tests run here, the candidate in a process of its own.

Used by the launcher (`toolthink.tool._launcher`) for jobs whose
``tests_process`` is ``"separate"`` (`toolthink.tool.boundary`); the launcher
execs this file once, with ``proxies`` (`toolthink.tool._proxies`) and its own
``pipe`` in its globals. Standard library only.

A `Pair` replaces the one-process harness's interpreter:

1. ahead of the job, the launcher starts the candidate's interpreter
   (`toolthink.tool._candidate`), with the run's output pipe on its fds 1 and
   2 and a channel to the tests: forked from the zygote under bubblewrap
   (`toolthink.tool._zygote`: a clean interpreter that never held a job, out of
   every run's reach), else exec'd fresh (``python -I -S -B -u``);
2. for the job, it forks itself: the child (the *tests' process*) drops every
   capability, sets its own limits, has the candidate set the same on itself
   (``("limits", ...)``, before any code runs), sends the code over the
   channel, runs the tests in a fresh ``__main__`` whose names stand for the
   candidate's (`toolthink.tool._proxies`), and writes ``V <secret> PASS`` on
   fd 3 when they ran to the end without an exception, ran at least one
   ``assert`` (counted here) and its own limits are unchanged, ``EMPTY`` when
   they ran to the end without an ``assert``, else ``FAIL``; after a failure
   it lists each failing test as the harness does, the code reloaded in the
   candidate and the isolated tests run for at most ``explain_seconds``;
3. if the candidate's process ends before the verdict, the tests' process exits
   with `GONE` and no verdict, and the launcher reports the candidate's exit
   status and fatal-error dump as the run's, so a crash or an ``os._exit``
   reads as it does with the one-process harness.

Forked, not exec'd: a fork of the small launcher costs about a millisecond, a
second interpreter start about ten (a run's cost was 2.1x the one-process
harness's with the tests' process exec'd, see benchmarks/README.md). The tests'
process inherits the launcher's memory, which holds jobs and secrets of this
worker only, its non-dumpable flag and its IPC namespace: the launcher moves
to a fresh one before it starts each run's candidate (under bubblewrap,
`toolthink.tool._launcher`), so both processes of a run share one that no
earlier run saw.

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
import fcntl
import io
import marshal
import os
import resource
import select
import socket
import sys
from _json import encode_basestring_ascii as _quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

    from toolthink.tool import _proxies as proxies
    from toolthink.tool._launcher import _pipe as pipe

GONE = 86
"""Exit status of a tests' process whose candidate ended before the verdict."""
_VERDICT_FD = 3
_ASSERT_NAME = "__toolthink_assert__"  # called before each assert (the launcher's rewrite)
_MESSAGE_CHARS = 500
_DUMP_BYTES = 64 * 1024
_LIMITS = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE",
           "RLIMIT_CORE")  # fmt: skip
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}


class _Enough(BaseException):
    """Raised by the failure recorder once ``max_failures`` are listed."""


class _Stop(BaseException):
    """The explanation's time is up."""


class Pair:
    """The candidate's interpreter, started ahead, and the tests' process forked for a job.

    The launcher treats it as its harness interpreter: ``pid``, ``out``, ``rec``,
    ``pidfd`` and ``status`` are the tests' process's (``out`` also carries the
    candidate's output), `start` replaces sending the job, and `settle` runs
    once the tests' process is reaped.
    """

    def __init__(self, python: str, boot: str, code: bytes, preload: list[str],
                 zygote: Any = None) -> None:  # fmt: skip
        """Start the candidate's interpreter: ``python -I -S -B -u -c <boot> <preload...>``.

        ``code``: what ``boot`` reads from fd 62 before any request (the
        launcher's marshalled `toolthink.tool._wire` and `toolthink.tool._candidate`,
        `toolthink.tool._launcher._candidate_code`); ``preload``: standard-library
        modules it imports while it waits for the job. With ``zygote`` (the
        launcher's socket to `toolthink.tool._zygote`) the candidate is forked
        from the zygote instead, which has all of that loaded already.
        """
        self.out, self._out_w = pipe()
        req_r, self._requests = pipe()
        self._replies, rep_w = pipe()
        self._dumps, dump_w = pipe()
        os.set_blocking(dump_w, False)  # read once the run ends: a full pipe must not block
        self._zygote = zygote
        self._status: int | None = None
        if zygote is not None:
            self._status, status_w = pipe()
            socket.send_fds(zygote, [b"F"], [self._out_w, dump_w, req_r, rep_w, status_w])
            # Its pid is the zygote's namespace's, not ours: we act on it by pidfd only.
            _pid, fds, _flags, _address = socket.recv_fds(zygote, 4, 1)
            self.candidate = -1
            for fd in (req_r, rep_w, dump_w, status_w):
                os.close(fd)
            pidfd = fds[0]
        else:
            self.candidate = self._spawn(python, [boot, *preload], (dump_w, req_r, rep_w), code)
            pidfd = os.pidfd_open(self.candidate)
        self._candidate_fd = fcntl.fcntl(pidfd, fcntl.F_DUPFD_CLOEXEC, 10)  # above 0-3, like pipe()
        os.close(pidfd)
        self.pid = -1  # set by `start`; nothing signals it before (kill(-1) would reach all)
        self.rec = -1
        self.pidfd: int | None = None
        self.status: int | None = None
        self.job = -1  # no job pipe: the job is in the fork's memory

    def _spawn(self, python: str, script: list[str], fds: tuple[int, int, int],
               code: bytes) -> int:  # fmt: skip
        """Exec a fresh candidate interpreter on ``fds`` (dump, requests, replies); its pid."""
        dump_w, req_r, rep_w = fds
        dup2 = os.POSIX_SPAWN_DUP2
        pid = os.posix_spawn(
            python,
            [python, "-I", "-S", "-B", "-u", "-c", *script],
            _ENV,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                          (dup2, self._out_w, 1), (dup2, self._out_w, 2), (dup2, dump_w, 3),
                          (dup2, req_r, 62), (dup2, rep_w, 63)],
            setsid=True,
        )
        for fd in (req_r, rep_w, dump_w):
            os.close(fd)
        view = memoryview(code)  # (fits an empty pipe: written at once)
        try:
            while view:
                view = view[os.write(self._requests, view):]
        except OSError:
            pass  # it died already: the run reports how
        return int(pid)

    def _candidate_status(self) -> int:
        """The candidate's exit status once it is killed: reaped here, or by the zygote."""
        if self._status is None:
            return int(os.waitstatus_to_exitcode(os.waitpid(self.candidate, 0)[1]))
        poller = select.poll()
        poller.register(self._candidate_fd, select.POLLIN)
        poller.poll(5000)  # it exits at once (SIGKILL), unless the machine is very busy
        self._zygote.sendall(b"R")
        self._zygote.recv(1)  # the zygote reaped it: its status is in the pipe
        os.set_blocking(self._status, False)
        try:
            data = os.read(self._status, 4)
        except OSError:
            data = b""
        os.close(self._status)
        return int.from_bytes(data, "big", signed=True) if len(data) == 4 else -9

    def start(self, job: dict[str, Any], compiled: tuple[bytes, bytes, Any],
              rlimits: list[tuple[int, int, int]], kernel: Any) -> None:  # fmt: skip
        """Fork the tests' process for ``job``; it has the candidate set ``rlimits`` first.

        ``rlimits``: ``(resource, soft, hard)`` triples (`toolthink.tool._launcher._rlimits`),
        which each process sets on itself (``prlimit`` from another process
        is refused when real and effective uids differ, as in the fallback).
        ``kernel``: the launcher's `toolthink.tool._launcher._Kernel`; the
        tests' process drops every capability with it.
        """
        self.rec, rec_w = pipe()
        pid = os.fork()
        if pid == 0:  # the tests' process: never returns
            _child(job, compiled, rlimits, kernel, (self._out_w, rec_w, self._requests,
                                                    self._replies, self._candidate_fd))  # fmt: skip
        for fd in (rec_w, self._out_w, self._requests, self._replies):
            os.close(fd)
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)

    def settle(self) -> tuple[bytes, bool]:
        """End the candidate (its group too); adopt its end if the tests' process said `GONE`.

        Returns:
            Bytes for the record channel (what the candidate's fd 3 holds: the
            traceback of a fatal signal or a timeout, for the report's
            location), and whether processes of the candidate's group outlived it.
        """
        if self._zygote is not None:  # (the launcher's check covers the namespace)
            try:  # noqa: SIM105 (no contextlib import)
                signal.pidfd_send_signal(self._candidate_fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status, lingering = self._candidate_status(), False
            os.close(self._candidate_fd)
        else:
            try:  # noqa: SIM105 (no contextlib import)
                os.kill(self.candidate, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status = self._candidate_status()
            os.close(self._candidate_fd)
            lingering = True
            try:
                os.killpg(self.candidate, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                lingering = False
        if self.status == GONE:
            self.status = status
        os.set_blocking(self._dumps, False)
        try:
            extra = b"\n" + os.read(self._dumps, _DUMP_BYTES)
        except OSError:
            extra = b""
        os.close(self._dumps)
        return extra, lingering

    def discard(self) -> None:
        """End the candidate of a job that never came."""
        os.close(self._out_w)
        os.close(self._requests)
        os.close(self._replies)
        os.close(self.out)
        self.settle()


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


def _value(value: object) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return str(_quote(str(value)))


def _record(**fields: object) -> None:
    body = ",".join(_quote(key) + ":" + _value(value) for key, value in fields.items())
    try:  # noqa: SIM105 (no contextlib import)
        os.write(_VERDICT_FD, ("\nR {" + body + "}\n").encode("utf-8", "replace"))
    except OSError:
        pass


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
    text = str(exc)
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    return {"type": type(exc).__name__, "message": text, "code_line": code_line,
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
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    count = [0]

    def record(exc: BaseException) -> None:
        count[0] += 1
        _record(kind="failure", phase=2, **_describe(exc))
        if count[0] >= limit:
            raise _Enough

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
