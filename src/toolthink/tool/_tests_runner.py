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

What the tests' process does, and why the candidate's process cannot forge
its verdict, is `toolthink.tool._tests_process`'s: the separate mode's
program is that module's source followed by this one's
(`toolthink.tool.programs`).
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # (no stub; `signal` imports enum)
import fcntl
import os
import select
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from toolthink.tool._interpreters import _pipe as pipe

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._tests_process import GONE, _child

_DUMP_BYTES = 64 * 1024
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}


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
        `toolthink.tool._interpreters._candidate_code`); ``preload``: standard-library
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

        ``rlimits``: ``(resource, soft, hard)`` triples (`toolthink.tool._interpreters._rlimits`),
        which each process sets on itself (``prlimit`` from another process
        is refused when real and effective uids differ, as in the fallback).
        ``kernel``: the launcher's `toolthink.tool._kernel._Kernel`; the
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
