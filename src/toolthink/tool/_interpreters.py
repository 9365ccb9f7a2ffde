"""The interpreters the launcher starts ahead of each job, and the job it hands them.

Part of the launcher's program (`toolthink.tool.programs`). A job runs on an
interpreter started before it arrived (its start-up overlaps the previous
result's trip to the host): the one-process harness's (`_Interpreter`,
``python -I -S -B -u -c <_BOOT>``), or the separate mode's candidate
(`toolthink.tool._tests_runner.Pair`, ``-c <_CANDIDATE_BOOT>``), each reading
code the launcher compiled once from the head of a pipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import math
import os
import resource
import signal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._compiled_tests import _code_imports, _Compiled

_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}


class _Interpreter:
    """A started harness interpreter, waiting for its job on stdin."""

    def __init__(self, pid: int, job: int, out: int, rec: int) -> None:
        self.pid = pid
        self.job = job
        self.out = out
        self.rec = rec
        self.pidfd = _pidfd(pid)
        self.status: int | None = None

    def start(self, job: dict[str, Any], compiled: _Compiled, *_unused: object) -> None:
        """Send the interpreter its job (it sets its limits itself, see `_rlimits`)."""
        _send(self, job, compiled)

    def settle(self) -> tuple[bytes, bool]:
        """Nothing to end besides the interpreter (see `toolthink.tool._tests_runner.Pair`)."""
        return b"", False

    def discard(self) -> None:
        """Kill and reap an interpreter started for a job that never came."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        for fd in (self.job, self.out, self.rec, self.pidfd):
            if fd is not None:
                os.close(fd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _pipe() -> tuple[int, int]:
    """A pipe whose ends are at fd 10 or above, so dup2 onto 0-3 never aliases them."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


# The interpreter's -c program: it reads the harness's code, compiled once by the
# launcher (`_compiled_harness`), from the head of its stdin and runs it as
# __main__ (2 ms of CPU saved per run: the harness's source is not compiled).
_READ_CODE = """\
import marshal, os, sys
def _exactly(size):
    data = b""
    while len(data) < size:
        chunk = os.read(FD, size - len(data))
        if not chunk:
            os._exit(3)
        data += chunk
    return data
def _code():
    return marshal.loads(_exactly(int.from_bytes(_exactly(4), "big")))
"""
_BOOT = _READ_CODE.replace("FD", "0") + "exec(_code())\n"


# The candidate's -c program (the separate mode, `toolthink.tool._tests_runner.Pair`):
# it reads the wire's and the candidate's code, compiled once (`_candidate_code`),
# from the head of its request channel (fd 62), imports the modules named in its
# argv (a guess at what the job needs: the last job's), then runs the candidate.
_CANDIDATE_BOOT = _READ_CODE.replace("FD", "62") + """\
_wire, _main = _code(), _code()
for _name in sys.argv[1:]:
    try:
        __import__(_name)
    except BaseException:
        pass
_module = type(sys)("_toolthink_wire")
exec(_wire, _module.__dict__)
sys.modules["_toolthink_wire"] = _module
del _exactly, _code, _wire, _module
exec(_main, {"__name__": "__main__", "__builtins__": __builtins__})
"""
# Modules a prestarted candidate may import before its job (`_preload`): the
# standard library's most named by the benchmarks' code and tests. `typing`
# alone costs 11 ms of CPU, more than an interpreter start.
_PRELOADABLE = frozenset({"typing", "collections", "math", "itertools", "functools", "re",
                          "heapq", "bisect", "string", "operator", "statistics", "fractions",
                          "decimal", "datetime", "copy", "random", "hashlib", "json"})  # fmt: skip


def _preload(imports: set[str] | frozenset[str]) -> list[str]:
    """The modules to import in the next candidate ahead of its job: the last job's, known ones.

    Under GRPO a worker runs the same task's tests many times in a row, so the
    last job's imports are the best guess; a wrong guess costs CPU, not safety
    (the candidate holds nothing of the job until it arrives).
    """
    return sorted(_PRELOADABLE & imports)


def _candidate_code(wire_source: str, candidate_source: str) -> bytes:
    """The wire's and the candidate's code, marshalled, each with its length in front."""
    blobs = [marshal.dumps(compile(source, name, "exec", dont_inherit=True, optimize=2))
             for source, name in ((wire_source, "<wire>"), (candidate_source, "<candidate>"))]
    return b"".join(len(blob).to_bytes(4, "big") + blob for blob in blobs)


def _compiled_harness(source: str) -> bytes:
    """The harness's code, marshalled with its length in front (docstrings dropped)."""
    blob = marshal.dumps(compile(source, "<harness>", "exec", dont_inherit=True, optimize=2))
    return len(blob).to_bytes(4, "big") + blob  # about 25 KB: fits an empty pipe


def _spawn(python: str, harness: bytes) -> _Interpreter:
    """Start ``python -I -S -B -u -c <_BOOT>`` on fresh pipes; hand it the harness's code."""
    job_r, job_w = _pipe()
    out_r, out_w = _pipe()
    rec_r, rec_w = _pipe()
    dup2 = os.POSIX_SPAWN_DUP2
    pid = os.posix_spawn(
        python,
        [python, "-I", "-S", "-B", "-u", "-c", _BOOT],
        _ENV,
        file_actions=[(dup2, job_r, 0), (dup2, out_w, 1), (dup2, out_w, 2), (dup2, rec_w, 3)],
        setsid=True,
    )
    for fd in (job_r, out_w, rec_w):
        os.close(fd)
    with contextlib.suppress(OSError):  # it died already: its exit status tells
        _write_all(job_w, harness)
    return _Interpreter(pid, job_w, out_r, rec_r)


def _rlimits(limits: dict[str, int], timeout: float) -> list[tuple[int, int, int]]:
    """``(resource, soft, hard)`` for the harness to set on itself before the run."""
    cpu = math.ceil(timeout) + 1
    return [
        (getattr(resource, name), soft, hard)
        for name, soft, hard in (
            ("RLIMIT_CPU", cpu, cpu + 1),
            ("RLIMIT_AS", limits["memory_bytes"], limits["memory_bytes"]),
            ("RLIMIT_FSIZE", limits["file_size_bytes"], limits["file_size_bytes"]),
            ("RLIMIT_NPROC", limits["processes"], limits["processes"]),
            ("RLIMIT_NOFILE", limits["open_files"], limits["open_files"]),
            ("RLIMIT_CORE", 0, 0),
        )
    ]


def _send(proc: _Interpreter, job: dict[str, Any], compiled: _Compiled) -> None:
    """Hand the interpreter its job (and the limits it sets on itself) on its stdin."""
    payload = marshal.dumps({
        "rlimits": _rlimits(job["limits"], float(job["timeout"])),
        "code": job["code"],
        "tests": compiled[0],
        "isolated": compiled[1],
        "imports": sorted(compiled[2] | _code_imports(job["code"])),
        "secret": job["secret"],
        "timeout": float(job["timeout"]),
        "max_failures": job["max_failures"],
        "explain_seconds": job["explain_seconds"],
        "limits": job["limits"],  # the separate tests' process limits the code's with them
    })
    try:
        _write_all(proc.job, payload)
    except OSError:
        pass  # the interpreter died before reading: its exit status tells
    finally:
        os.close(proc.job)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
