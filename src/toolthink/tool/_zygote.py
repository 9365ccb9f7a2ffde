"""The zygote: forks the separate mode's candidate interpreters, out of every run's reach.

Under bubblewrap (kill scope ``pidns``, with the capability for namespaces:
not as root with ``uid=0``) the launcher, pid 1 of the sandbox, forks this
*zygote* before any job, as init of a new pid namespace
(`toolthink.tool._launcher._split`). The launcher execs this file once. Standard library only.

Why: a candidate's interpreter exec'd per run costs about 7 ms of CPU to start
and 11 ms more for ``import typing``, which most benchmark programs name;
a fork of an interpreter that has it all loaded costs about 0.3 ms
(benchmarks/README.md). What makes the fork sound:

- the zygote never holds a job: it is forked from the launcher before the
  first one and only ever receives descriptors, so a candidate forked from it
  finds no test source, expected value or secret in its memory;
- the launcher forks it into a pid namespace of its own (nested in the
  sandbox's), where it is init, and every later process of the launcher's
  goes there too: every process of every run (candidates, tests' processes,
  harness interpreters) lives in that namespace, where the launcher does not
  exist (no pid names it) and the zygote is init, to which the kernel delivers
  no signal from inside the namespace that it has no handler for (SIGINT, the
  one Python handles, is set to ``SIG_IGN``; SIGKILL and SIGSTOP are never
  delivered). So no run can stop or kill it, or the launcher, to fail the next
  run; it is non-dumpable, and seccomp denies ptrace and ``pidfd_getfd``, so
  no run reaches its descriptors or memory; it keeps no descriptor of a run's
  pipes once the candidate is forked;
- each candidate starts in a fresh IPC namespace (the zygote keeps
  CAP_SYS_ADMIN for ``unshare(CLONE_NEWIPC)`` before each fork) and drops every
  capability before its first instruction of the run;
- as the namespace's init it reaps every process a run leaves, and ends them
  for the launcher (``kill(-1)`` here reaches every process of the runs and
  not itself).

Protocol on the launcher's socket: ``F`` with five descriptors (the run's
output, the candidate's fatal-error dump, requests, replies, and a status
pipe): fork a candidate on them, answer its pid here (4 bytes) and a pidfd of
it (the launcher's pid namespace numbers it otherwise); the candidate's
exit status (4 bytes, signed, as ``os.waitstatus_to_exitcode``) goes to the
status pipe once it is reaped. Each other request first reaps every finished
child: ``R`` then answers ``r``; ``A`` answers ``1`` if any other process of
the namespace is alive (a zombie of the launcher's counts), else ``0``; ``K``
sends SIGKILL to every other process of the namespace and answers as ``A``
did before it. The socket's end: the launcher is gone, and the zygote exits (the whole
sandbox with it).
"""

from __future__ import annotations

import io
import marshal
import os
import signal
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

_FDS = 5  # output, dump, requests, replies, status
_HIGH = 100  # received descriptors are moved up here before dup2 onto 0-3, 62, 63
_PRELOAD = ("typing", "collections", "math", "itertools", "functools", "re", "heapq", "bisect",
            "string", "operator", "statistics", "fractions", "decimal", "datetime", "copy",
            "random", "hashlib", "json")  # fmt: skip
"""Imported once here, so every candidate starts with them: the standard library's
modules most named by the benchmarks' code and tests."""


def serve(control: socket.socket, codes: tuple[bytes, bytes], kernel: Any,
          ipc_per_run: bool) -> None:  # fmt: skip
    """Fork candidates on request until the launcher closes ``control``; never returns.

    ``codes``: the marshalled `toolthink.tool._wire` and `toolthink.tool._candidate`;
    ``kernel``: the launcher's `toolthink.tool._kernel._Kernel`.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in (0, 1):  # the launcher's pipes to the host: not ours to hold
        os.close(fd)
    for name in _PRELOAD:
        try:  # noqa: SIM105 (contextlib is not loaded here)
            __import__(name)
        except ImportError:
            pass
    wire, main = marshal.loads(codes[0]), marshal.loads(codes[1])
    waiting: dict[int, int] = {}  # candidate pid -> status pipe
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 1, _FDS)
        except OSError:
            message, fds = b"", []
        if not message:
            os._exit(0)
        if message == b"F" and len(fds) == _FDS:
            if ipc_per_run:
                kernel.new_ipc_namespace()
            pid = os.fork()
            if pid == 0:
                control.close()
                _candidate(fds, wire, main, kernel)
            for fd in fds[:-1]:
                os.close(fd)
            waiting[pid] = fds[-1]
            pidfd = os.pidfd_open(pid)  # the launcher's pids are not ours: it acts by pidfd
            socket.send_fds(control, [pid.to_bytes(4, "big")], [pidfd])
            os.close(pidfd)
        else:
            for fd in fds:
                os.close(fd)
            _reap(waiting)
            control.sendall(_ANSWERS.get(message, _nothing)())


def _signal_all(number: int) -> bytes:
    """``kill(-1, number)``: every process of the namespace but this one; b"1" if any was."""
    try:
        os.kill(-1, number)
    except ProcessLookupError:
        return b"0"
    return b"1"


def _nothing() -> bytes:
    return b"r"


_ANSWERS = {b"K": lambda: _signal_all(signal.SIGKILL), b"A": lambda: _signal_all(0),
            b"R": _nothing}  # fmt: skip


def _reap(waiting: dict[int, int]) -> None:
    """Collect every finished child; tell the launcher how each candidate ended."""
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        status_w = waiting.pop(pid, None)
        if status_w is not None:
            try:  # noqa: SIM105 (no contextlib import)
                os.write(status_w, os.waitstatus_to_exitcode(raw).to_bytes(4, "big", signed=True))
            except OSError:
                pass
            os.close(status_w)


def _candidate(fds: list[int], wire: CodeType, main: CodeType, kernel: Any) -> None:
    """The forked candidate: its descriptors, no capability, then `toolthink.tool._candidate`."""
    try:
        os.setsid()
        out_w, dump_w, requests, replies, _status = (_move_up(fd) for fd in fds)
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (out_w, 1), (out_w, 2), (dump_w, 3),
                               (requests, 62), (replies, 63)):  # fmt: skip
            os.dup2(source, target)
        os.closerange(4, 62)
        os.closerange(64, 1 << 16)
        kernel.drop_capabilities()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        for fd, name in ((1, "stdout"), (2, "stderr")):  # unbuffered, as `-u`
            raw = io.FileIO(fd, "w", closefd=False)
            stream = io.TextIOWrapper(raw, "utf-8", "backslashreplace", write_through=True)
            setattr(sys, name, stream)
            setattr(sys, "__" + name + "__", stream)
        module = type(sys)("_toolthink_wire")
        exec(wire, module.__dict__)
        sys.modules["_toolthink_wire"] = module
        exec(main, {"__name__": "__main__", "__builtins__": __builtins__})
    except BaseException:  # (a bug here: the run reports the exit status)
        pass
    os._exit(3)


def _move_up(fd: int) -> int:
    import fcntl  # noqa: PLC0415 (the launcher loaded it: free)

    return fcntl.fcntl(fd, fcntl.F_DUPFD, _HIGH)
