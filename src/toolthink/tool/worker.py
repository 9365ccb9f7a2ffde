"""One sandbox: the launcher inside bubblewrap (or a plain process), and its pipes.

A `toolthink.tool.sandbox.SandboxPool` holds one `Worker` per parallel run.
`Worker.start` starts the launcher (`toolthink.tool._launcher`) with the
programs it runs (`toolthink.tool.programs`) under the pool's isolation plan
(`toolthink.tool.isolation`); `Worker.run` sends it a job and waits for the
result frame (a 4-byte big-endian length, then UTF-8 JSON, each way). A
sandbox that ends or stops answering raises `SandboxGoneError`, which the
pool turns into a report (the run never passes) and a restart.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from toolthink.tool.boundary import TestsProcess
from toolthink.tool.isolation import Isolation, IsolationPlan, seccomp_fd
from toolthink.tool.programs import launcher_args
from toolthink.tool.uids import UidLease, lease_uids

__all__ = ["SandboxGoneError", "Worker"]

_HEADER = struct.Struct(">I")
_START_SECONDS = 30.0  # a sandbox starts in well under a second
_GRACE_SECONDS = 10.0  # launcher overhead beyond the run's timeout before we give up on it


class SandboxGoneError(Exception):
    """The worker's sandbox ended or stopped answering."""


class Worker:
    """One sandbox: a launcher inside bubblewrap (or a plain process), and its pipes."""

    def __init__(
        self,
        plan: IsolationPlan,
        fallback_uids: int,
        launch: Callable[[Worker], None],
        first: TestsProcess,
    ) -> None:
        self.plan = plan
        self.fallback_uids = fallback_uids
        self.launch = launch  # calls start() from a thread that lives as long as the pool
        self.first = first  # the kind of interpreter the launcher starts ahead of the first job
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: str | None = None
        self.errors: IO[bytes] | None = None
        self.lease: UidLease | None = None

    def start(self) -> None:
        """(Re)start the sandbox and wait for the launcher's ready frame.

        Raises:
            SandboxGoneError: The launcher did not start (its error, if it gave one).
        """
        self.stop()
        cwd, uids = None, None
        if self.plan.leases_uids:  # the fallback, as root: uids of its own (toolthink.tool.uids)
            self.lease = lease_uids(self.fallback_uids)
            uids = (self.lease.real, self.lease.effective)
        if self.plan.isolation is Isolation.PROCESS:
            self.workdir = cwd = tempfile.mkdtemp(prefix="toolthink-sandbox-")
            if uids is not None:
                os.chown(cwd, uids[1], uids[0])
        fd = seccomp_fd(self.plan)
        ipc = "ipc" if self.plan.ipc_per_run else "shared-ipc"
        args = launcher_args(self.plan.kill_scope, ipc, self.first.value)
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the sandbox)
        try:
            self.proc = subprocess.Popen(
                self.plan.argv(args, fd, uids),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                pass_fds=() if fd is None else (fd,),
                cwd=cwd,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
                start_new_session=True,
                bufsize=0,
            )
        finally:
            if fd is not None:
                os.close(fd)
        ready = self._receive(time.monotonic() + _START_SECONDS)
        if not ready.get("ready"):
            msg = f"the sandbox could not start: {ready.get('error', ready)!r}"
            raise SandboxGoneError(msg)

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``job`` (starting the sandbox if needed); return the launcher's result frame.

        Raises:
            SandboxGoneError: The sandbox ended, or gave no answer within
                ``timeout`` plus a grace of `_GRACE_SECONDS` seconds.
        """
        if self.proc is None or self.proc.poll() is not None:
            self.launch(self)
        self._send(job)
        result = self._receive(time.monotonic() + timeout + _GRACE_SECONDS)
        if result.get("dirty"):
            self.stop()  # files it could not delete: the next run gets a fresh sandbox
        return result

    def _send(self, frame: dict[str, Any]) -> None:
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is None:
            msg = "the sandbox is not running"
            raise SandboxGoneError(msg)
        body = _encode(frame)
        try:
            stdin.write(_HEADER.pack(len(body)) + body)
        except OSError as exc:
            raise SandboxGoneError(f"cannot write to the sandbox: {exc}") from exc

    def _receive(self, deadline: float) -> dict[str, Any]:
        stdout = self.proc.stdout if self.proc is not None else None
        if stdout is None:
            msg = "the sandbox is not running"
            raise SandboxGoneError(msg)
        fd = stdout.fileno()
        size = _HEADER.unpack(self._read(fd, _HEADER.size, deadline))[0]
        frame: dict[str, Any] = _decode(self._read(fd, size, deadline))
        return frame

    def _read(self, fd: int, size: int, deadline: float) -> bytes:
        data = bytearray()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop(kill=True)
                msg = "the sandbox stopped answering"
                raise SandboxGoneError(msg)
            if not poller.poll(math.ceil(remaining * 1000)):
                continue
            chunk = os.read(fd, size - len(data))
            if not chunk:
                detail = self._stderr()
                self.stop()
                msg = "the sandbox ended" + (f": {detail}" if detail else "")
                raise SandboxGoneError(msg)
            data += chunk
        return bytes(data)

    def _stderr(self) -> str:
        if self.errors is None:
            return ""
        self.errors.seek(0)
        return self.errors.read()[-500:].decode("utf-8", "replace").strip()

    def stop(self, *, kill: bool = False) -> None:
        """End the sandbox: politely (close its stdin) unless ``kill``."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop_process(proc, kill=kill)
        if self.errors is not None:
            self.errors.close()
            self.errors = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self.lease is not None:  # every process of the pair is gone (killed, reaped)
            self.lease.release()
            self.lease = None


def _stop_process(proc: subprocess.Popen[bytes], *, kill: bool) -> None:
    """Close the launcher's stdin (it exits), then kill its process group if needed.

    ``kill``: the sandbox stopped answering. Its children die first (under
    bubblewrap: the launcher, which takes its namespace with it), so that the
    process we started reaps them before it is killed itself; killed first, it
    would leave them defunct under the host's pid 1.
    """
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()
    if kill:
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for child in children:
                os.kill(int(child), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.5 if kill else 2.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame).encode("utf-8", "surrogatepass")


def _decode(body: bytes) -> dict[str, Any]:
    value = json.loads(body.decode("utf-8", "replace"))
    if not isinstance(value, dict):
        msg = "the sandbox sent a frame that is not an object"
        raise SandboxGoneError(msg)
    return value
