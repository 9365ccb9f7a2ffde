"""The launcher: lives inside one sandbox and starts a fresh interpreter per run.

`toolthink.tool.worker` starts it once per worker as
``python -I -S -B -c <launcher> <kill scope> <harness> <ipc>
<separate mode's programs...> <first kind>`` inside the sandbox (see
`toolthink.tool.isolation`; ``<ipc>`` is ``ipc`` for an IPC namespace per
run; `main` lists the rest). ``<launcher>`` is one program assembled from
this file and the parts before it (`toolthink.tool.programs`): the system
calls (`toolthink.tool._kernel`), the tests' compilation
(`toolthink.tool._compiled_tests`), the interpreters started ahead
(`toolthink.tool._interpreters`) and the end of each run
(`toolthink.tool._cleanup`). It is not imported by toolthink at run time: it
runs on the sandbox's interpreter with the standard library only. Before anything else it
makes itself non-dumpable (no run reaches its descriptors or memory, see
`_Kernel.make_nondumpable`), or the sandbox does not start.

Each job runs in one of two kinds of interpreter (the job's ``tests_process``,
`toolthink.tool.boundary`): the one-process harness (``same``, below), or a
`toolthink.tool._tests_runner.Pair` (``separate``): the candidate's own
interpreter, started ahead like the harness's, and the tests' process forked
from this launcher for the job. Everything below holds for both: the refusal
of tests without an ``assert``, the fresh IPC namespace (both processes of a
``separate`` run share it), the kill and reap of every process of the run.

Protocol: jobs arrive on fd 0 and results leave on fd 1, one frame each (a 4-byte
big-endian length, then UTF-8 JSON). For each job the launcher

1. takes the interpreter it started beforehand (``python -I -S -B -u -c <boot>``,
   which runs the harness's code the launcher compiled once;
   unbuffered so stdout and stderr interleave as written; started early so its
   start-up overlaps the previous result's trip to the host) and sends it the
   job (code, compiled tests, secret, resource limits it sets on itself, the
   names of the modules code and tests import) on its stdin; tests that hold
   no ``assert`` are answered at once (``no_assertions``), as are tests that do
   not compile (``tests_error``);
2. collects stdout+stderr (capped in bytes) and the harness's record channel
   (fd 3) until the interpreter exits or the wall-clock timeout passes;
3. kills every other process of the run and reaps it: with kill scope
   ``pidns`` (bubblewrap's own pid namespace, where the launcher is pid 1)
   ``kill(-1, SIGKILL)``, which reaches double-forked and ``setsid`` children
   too; with ``session`` (the fallback, where the launcher is a child
   subreaper) the process group. Orphans are re-parented to the launcher
   either way, so none stays defunct, whatever the host's pid 1 does. Under
   bubblewrap with CAP_SYS_ADMIN the runs live in a nested pid namespace
   whose init is the zygote (`_split`, `toolthink.tool._zygote`): there the
   zygote reaps the orphans and sends the ``kill(-1)`` on request;
4. empties the working folder and /dev/shm, moves to a fresh IPC namespace
   (``pidns``), starts the next interpreter, and answers with the exit status,
   flags and captured bytes.

The launcher never decides pass or fail: the host checks the harness's verdict
against the run's secret. The tests are compiled here (cached): once as given,
and once with every ``assert`` and top-level call wrapped so that, after a
failure, the harness can list each failing test (`toolthink.tool._compiled_tests`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._cleanup import _ZYGOTE, _kill_rest, _lingering, _reap, _wipe
    from toolthink.tool._compiled_tests import _compile_tests, _job_imports
    from toolthink.tool._interpreters import (
        _CANDIDATE_BOOT,
        _candidate_code,
        _compiled_harness,
        _Interpreter,
        _pipe,
        _preload,
        _rlimits,
        _spawn,
        _write_all,
    )
    from toolthink.tool._kernel import _Kernel

_HEADER = struct.Struct(">I")
_RECORDS_LIMIT = 256 * 1024  # bytes; the harness writes a few KiB at most
_DRAIN_SECONDS = 0.5  # after the run: how long to wait for pipes to close
_READ = 1 << 16


class _Capture:
    """Reads the run's output and record pipes, with caps, until both close."""

    def __init__(self, proc: _Interpreter, output_cap: int) -> None:
        self.output_cap = output_cap
        self.poller = select.poll()
        self.buffers = {proc.out: bytearray(), proc.rec: bytearray()}
        self.out, self.rec = proc.out, proc.rec
        for fd in self.buffers:
            self.poller.register(fd, select.POLLIN)
        self.open = set(self.buffers)

    def overflow(self) -> str | None:
        if len(self.buffers[self.out]) > self.output_cap:
            return "output"
        if len(self.buffers[self.rec]) > _RECORDS_LIMIT:
            return "records"
        return None

    def read(self, fd: int) -> None:
        chunk = os.read(fd, _READ)
        if not chunk:
            self.poller.unregister(fd)
            self.open.discard(fd)
        elif len(self.buffers[fd]) <= self.output_cap + _RECORDS_LIMIT:
            self.buffers[fd] += chunk

    def drain(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while self.open and time.monotonic() < until:
            for fd, _event in self.poller.poll(10):
                self.read(fd)

    def text(self, fd: int, cap: int) -> str:
        return bytes(self.buffers[fd][:cap]).decode("utf-8", "replace")


def _watch(proc: _Interpreter, capture: _Capture, deadline: float) -> tuple[bool, bool, str | None]:
    """Collect output until exit, timeout or overflow: (exited, timed_out, overflow)."""
    if proc.pidfd is not None:
        capture.poller.register(proc.pidfd, select.POLLIN)
    exited = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wait_ms = min(math.ceil(remaining * 1000), 60_000) if proc.pidfd is not None else 5
        for fd, _event in capture.poller.poll(wait_ms):
            if fd == proc.pidfd:
                exited = True
            else:
                capture.read(fd)
        overflow = capture.overflow()
        if overflow is not None:
            return exited, False, overflow
        if proc.pidfd is None:  # no pidfd (old kernel): poll for the exit
            done, raw = os.waitpid(proc.pid, os.WNOHANG)
            if done:
                proc.status, exited = os.waitstatus_to_exitcode(raw), True
        if exited:
            return True, False, None
    return exited, True, None


def _run(proc: Any, job: dict[str, Any], scope: str, workdir: str,
         kernel: _Kernel) -> dict[str, Any]:  # fmt: skip
    """Run one job on the waiting interpreter; return the launcher's result frame.

    ``proc`` is an `_Interpreter`, or a `toolthink.tool._tests_runner.Pair`.
    """
    started = time.monotonic()
    compiled = _compile_tests(job["tests"])
    if isinstance(compiled, dict):
        return {**compiled, "wall": 0.0}
    proc.start(job, compiled, _rlimits(job["limits"], float(job["timeout"])), kernel)
    capture = _Capture(proc, job["limits"]["output_bytes"])
    exited, timed_out, overflow = _watch(proc, capture, time.monotonic() + float(job["timeout"]))
    if proc.pidfd is not None:
        capture.poller.unregister(proc.pidfd)
        os.close(proc.pidfd)
    if not exited:
        os.kill(proc.pid, signal.SIGKILL)
    if proc.status is None:  # reap it first: a zombie still answers kill(-1, 0)
        proc.status = os.waitstatus_to_exitcode(os.waitpid(proc.pid, 0)[1])
    extra, stayed = proc.settle()
    leftover = exited and not timed_out and overflow is None and (
        stayed or _lingering(scope, proc.pid))
    _kill_rest(scope, proc.pid)
    wall = time.monotonic() - started
    capture.drain(_DRAIN_SECONDS)
    if capture.open and scope == "session":
        leftover = True  # a process outside the group still holds the pipes
    os.close(proc.out)
    os.close(proc.rec)
    clean = _wipe(workdir)
    if scope == "pidns" and os.path.isdir("/dev/shm"):
        clean = _wipe("/dev/shm") and clean
    return {
        "status": proc.status,
        "timed_out": timed_out,
        "overflow": overflow,
        "leftover": leftover,
        "output": capture.text(proc.out, job["limits"]["output_bytes"]),
        "records": capture.text(proc.rec, _RECORDS_LIMIT) + extra.decode("utf-8", "replace"),
        "wall": wall,
        "dirty": not clean,
    }


def _read_frame(fd: int) -> dict[str, Any] | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    if body is None:
        return None
    frame: dict[str, Any] = json.loads(body)
    return frame


def _read_exact(fd: int, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _write_frame(fd: int, frame: dict[str, Any]) -> None:
    body = json.dumps(frame).encode()
    _write_all(fd, _HEADER.pack(len(body)) + body)


def _set_up(scope: str, ipc: str) -> tuple[_Kernel, bool]:
    """Make this process non-dumpable and orphans ours; ready an IPC namespace per run.

    Returns:
        The system calls, and whether to call `_Kernel.new_ipc_namespace`
        before each run (scope ``pidns`` and ``ipc`` is ``"ipc"``).

    Raises:
        OSError: A call failed (the sandbox then does not start).
    """
    kernel = _Kernel()
    kernel.make_nondumpable()
    if scope != "pidns":
        kernel.become_subreaper()
        return kernel, False
    if os.getpid() != 1:  # bwrap --as-pid-1: orphans are reparented to us
        msg = f"the launcher must be pid 1 of its namespace, not {os.getpid()}"
        raise OSError(msg)
    if ipc != "ipc":
        return kernel, False
    kernel.keep_capabilities_here()
    kernel.new_ipc_namespace()
    return kernel, True


def _split(kernel: _Kernel, candidate: bytes, ipc_per_run: bool, source: str) -> socket.socket:
    """Fork the zygote as init of a new pid namespace; return our socket to it.

    Every later child of the launcher (the runs' processes) goes to that
    namespace too, where the launcher has no pid (`toolthink.tool._zygote`).
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    size = int.from_bytes(candidate[:4], "big")
    codes = (candidate[4 : 4 + size], candidate[8 + size :])
    kernel.new_pid_namespace()
    if os.fork() == 0:  # never returns
        ours.close()
        _module("_toolthink_zygote", source).serve(theirs, codes, kernel, ipc_per_run)
    theirs.close()
    return ours


def _module(name: str, source: str, **names: Any) -> Any:
    """Exec ``source`` as a module named ``name`` whose globals start with ``names``."""
    module = type(sys)(name)
    module.__dict__.update(names)
    exec(source, module.__dict__)
    return module


def main() -> None:
    """Serve jobs until the host closes fd 0 (or a run leaves files it cannot delete).

    argv: the kill scope, the harness's source, ``ipc`` (or not), then the
    sources of the separate tests' process: `toolthink.tool._tests_runner`,
    `toolthink.tool._proxies`, `toolthink.tool._candidate` and
    `toolthink.tool._wire`; last, the kind of interpreter to start ahead of
    the first job (``same`` or ``separate``). A job's ``tests_process`` says
    which kind runs it; the next one is started ahead as the last job's kind.
    """
    scope, harness, ipc = sys.argv[1], _compiled_harness(sys.argv[2]), sys.argv[3]
    runner_source, proxies_source, candidate_source, wire_source = sys.argv[4:8]
    workdir = os.getcwd()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    python = sys.executable
    try:
        kernel, ipc_per_run = _set_up(scope, ipc)
    except OSError as exc:
        _write_frame(1, {"ready": False, "error": str(exc)})
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a run may send it: no KeyboardInterrupt here
    candidate = _candidate_code(wire_source, candidate_source)
    zygote = None
    if scope == "pidns" and ipc_per_run:  # before any job: the zygote must never hold one
        zygote = _split(kernel, candidate, ipc_per_run, sys.argv[9])
        _ZYGOTE.append(zygote)
    wire = _module("_toolthink_wire", wire_source)
    proxies = _module("_toolthink_proxies", proxies_source, wire=wire)
    runner = _module("_toolthink_tests_runner", runner_source, proxies=proxies, pipe=_pipe)
    imports: set[str] = set()  # the last job's

    def spawn(kind: str) -> Any:
        if kind == "separate":
            return runner.Pair(python, _CANDIDATE_BOOT, candidate, _preload(imports), zygote)
        return _spawn(python, harness)

    kind = "separate" if sys.argv[8:9] == ["separate"] else "same"
    proc = spawn(kind)
    _write_frame(1, {"ready": True})
    try:
        while True:
            job = _read_frame(0)
            if job is None:
                break
            wanted = "separate" if job.get("tests_process") == "separate" else "same"
            if wanted != kind:
                proc.discard()
                kind = wanted
                proc = spawn(kind)
            result = _run(proc, job, scope, workdir, kernel)
            imports = _job_imports(job)
            if result.get("dirty"):
                _write_frame(1, result)
                return  # the host starts a fresh sandbox
            if "status" in result:  # the interpreter was used: the next run gets a new one
                if ipc_per_run:
                    kernel.new_ipc_namespace()
                proc = spawn(kind)
            _write_frame(1, result)
    finally:
        _end(proc)


def _end(proc: Any) -> None:
    """Kill and reap the interpreter waiting for a job, any child, and the zygote."""
    if proc.status is None:  # never used
        proc.discard()
    _reap()
    for zygote in _ZYGOTE:  # it exits when its socket closes: reap it (and count its CPU)
        zygote.close()
        with contextlib.suppress(ChildProcessError):
            os.wait()


if __name__ == "__main__":
    main()
