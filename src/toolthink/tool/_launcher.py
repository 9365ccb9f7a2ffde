"""The launcher: lives inside one sandbox and starts a fresh interpreter per run.

`toolthink.tool.sandbox` starts it once per worker as
``python -I -S -B -c <this source> <kill scope> <harness source> <ipc>
<separate mode's sources...> <first kind>`` inside the sandbox (see
`toolthink.tool.isolation`; ``<ipc>`` is ``ipc`` for an IPC namespace per
run; `main` lists the rest). It is not imported by toolthink: it runs on the
sandbox's interpreter with the standard library only. Before anything else it
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
failure, the harness can list each failing test (`toolthink.tool._harness`).
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import marshal
import math
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
from typing import Any

_HEADER = struct.Struct(">I")
_RECORDS_LIMIT = 256 * 1024  # bytes; the harness writes a few KiB at most
_DRAIN_SECONDS = 0.5  # after the run: how long to wait for pipes to close
_ZOMBIE_SECONDS = 0.05  # after exit: time for the run's last children to finish exiting
_CACHE_SIZE = 512  # compiled test suites kept
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
_READ = 1 << 16


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


def _isolate(tree: ast.Module) -> ast.Module:
    """Wrap each ``assert`` and each top-level expression statement in try/except."""

    def wrap(stmt: ast.stmt) -> ast.stmt:
        record = ast.Expr(
            ast.Call(
                ast.Name("__toolthink_record__", ast.Load()),
                [ast.Name("__toolthink_error__", ast.Load())],
                [],
            )
        )
        handler = ast.ExceptHandler(ast.Name("Exception", ast.Load()), "__toolthink_error__",
                                    [record])  # fmt: skip
        # New nodes take the statement's location (fix_missing_locations copies
        # it down), so tracebacks keep the line numbers of the tests as given.
        return ast.copy_location(ast.Try([stmt], [handler], [], []), stmt)

    class Asserts(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.stmt:
            return wrap(node)

    tree = Asserts().visit(tree)
    tree.body = [wrap(s) if isinstance(s, ast.Expr) else s for s in tree.body]
    return ast.fix_missing_locations(tree)


def _counted(tree: ast.Module) -> ast.Module:
    """Precede each ``assert`` with a call that counts it (``__toolthink_assert__()``).

    The harness passes only tests that ran at least one ``assert``: tests that
    define checks and never call them would otherwise pass anything.
    """

    def count(node: ast.stmt) -> ast.stmt:
        call = ast.Call(ast.Name("__toolthink_assert__", ast.Load()), [], [])
        return ast.copy_location(ast.Expr(call), node)

    class Asserts(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
            return [count(node), node]

    counted: ast.Module = ast.fix_missing_locations(Asserts().visit(tree))
    return counted


def _imported(tree: ast.Module) -> set[str]:
    """Top-level names of the modules that ``tree`` imports absolutely, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _code_imports(code: str) -> set[str]:
    """What `_imported` finds in the candidate's code; nothing if it does not parse."""
    try:
        return _imported(ast.parse(code, "<code>"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()


_Compiled = tuple[bytes, bytes, frozenset[str]]
_Refusal = dict[str, str]
_compiled: dict[str, _Compiled | _Refusal] = {}


def _compile_tests(tests: str) -> _Compiled | _Refusal:
    """The tests compiled, or why they cannot be run (the answer's only field).

    Returns:
        The marshalled code of the tests (each ``assert`` counted, see
        `_counted`) and of their isolated form, and the top-level names of the
        modules they import (which the harness imports before its guard, see
        `toolthink.tool._harness`); or ``{"tests_error": text}`` when they do
        not compile, ``{"no_assertions": text}`` when they hold no ``assert``.
    """
    hit = _compiled.get(tests)
    if hit is not None:
        return hit
    result: _Compiled | _Refusal
    try:
        compile(tests, "<tests>", "exec", dont_inherit=True)  # the compiler's own errors first
        tree = ast.parse(tests, "<tests>")
        if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
            result = {"no_assertions": "they hold no assert statement"}
        else:
            imports = frozenset(_imported(tree))
            plain = compile(_counted(tree), "<tests>", "exec", dont_inherit=True)
            tree = ast.parse(tests, "<tests>")
            isolated = compile(_isolate(tree), "<tests>", "exec", dont_inherit=True)
            result = (marshal.dumps(plain), marshal.dumps(isolated), imports)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # see _harness._runner
        result = {"tests_error": f"{type(exc).__name__}: {exc}"}
    if len(_compiled) >= _CACHE_SIZE:
        _compiled.pop(next(iter(_compiled)))
    _compiled[tests] = result
    return result


def _job_imports(job: dict[str, Any]) -> set[str]:
    """Top-level names of the modules a job's code and tests import (cached for the tests)."""
    compiled = _compiled.get(job["tests"])
    tests = compiled[2] if isinstance(compiled, tuple) else frozenset()
    return set(tests) | _code_imports(job["code"])


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


_PR_SET_DUMPABLE = 4  # include/uapi/linux/prctl.h
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CLONE_NEWIPC = 0x08000000  # include/uapi/linux/sched.h
_CLONE_NEWPID = 0x20000000
_CAP_VERSION_3 = 0x20080522  # include/uapi/linux/capability.h


class _Kernel:
    """The few system calls Python 3.10/3.11's ``os`` lacks, through libc (ctypes).

    Only the launcher uses them: it is the sandbox's trusted code and runs no
    candidate code (each run is a separate interpreter, which never sees ctypes).
    """

    def __init__(self) -> None:
        import ctypes  # noqa: PLC0415 (only here: about 10 ms, once per sandbox)

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = self.ctypes.get_errno()
            msg = f"{what} failed: {os.strerror(errno)}"
            raise OSError(errno, msg)

    def make_nondumpable(self) -> None:
        """``prctl(PR_SET_DUMPABLE, 0)``: no process of a run reaches our descriptors or memory.

        Jobs and secrets pass through the launcher, and the tests' process is
        forked from it (forks keep the flag; an exec'd interpreter loses it):
        ``pidfd_getfd`` would hand a run their descriptors (the verdict
        channel, the pipes to the host), ``/proc/<pid>/mem`` (in the fallback)
        their memory. Both need ptrace access, which the kernel refuses to a
        non-dumpable target without ``CAP_SYS_PTRACE``; the seccomp filter
        denies ``pidfd_getfd`` too (`toolthink.tool.isolation`).
        """
        self._check(self.libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "PR_SET_DUMPABLE")

    def drop_capabilities(self) -> None:
        """Empty every capability set of this process (the forked tests' process).

        The launcher keeps CAP_SYS_ADMIN for `new_ipc_namespace`; a fork
        inherits it, and the tests' process needs none.
        """
        header = (self.ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
        self._check(self.libc.capset(header, (self.ctypes.c_uint32 * 6)()), "capset")

    def become_subreaper(self) -> None:
        """Orphans of our children become ours (not pid 1's), so we can reap them."""
        self._check(self.libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "PR_SET_CHILD_SUBREAPER")

    def keep_capabilities_here(self) -> None:
        """Clear the inheritable and ambient sets: what we exec gets no capability.

        Bubblewrap gives this process CAP_SYS_ADMIN (``--cap-add``) in the
        sandbox's own user namespace, as an ambient capability; we keep it
        (effective, permitted) for `new_ipc_namespace`, and no run inherits it.
        """
        words = self.ctypes.c_uint32 * 6
        header = (self.ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
        data = words()
        self._check(self.libc.capget(header, data), "capget")
        data[2] = data[5] = 0  # inheritable, both 32-bit words
        self._check(self.libc.capset(header, data), "capset")
        self._check(self.libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
                    "PR_CAP_AMBIENT_CLEAR_ALL")  # fmt: skip

    def new_pid_namespace(self) -> None:
        """Our next child is init of a new pid namespace, and every later one lives there."""
        self._check(self.libc.unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")

    def new_ipc_namespace(self) -> None:
        """Move to a fresh IPC namespace: what later children create, no earlier run saw.

        SysV shared memory, message queues and semaphores, and POSIX message
        queues, live in the IPC namespace; the previous run's namespace goes
        when its last process does (all are killed before the next starts).
        """
        self._check(self.libc.unshare(_CLONE_NEWIPC), "unshare(CLONE_NEWIPC)")


def _reap() -> None:
    """Collect every finished child: the launcher is a subreaper, so orphans are ours.

    The candidates forked by the zygote, and their orphans, are the zygote's:
    it reaps them when asked (so that none still counts as alive for `_others_alive`).
    """
    if _ZYGOTE:
        _ask_zygote(b"R")
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others_alive(scope: str, pgid: int) -> bool:
    """Whether any process of the run besides the launcher (and pid 1) is alive."""
    if _ZYGOTE:
        return _ask_zygote(b"A")
    try:
        if scope == "pidns":
            os.kill(-1, 0)
        else:
            os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_rest(scope: str, pgid: int) -> None:
    """SIGKILL every other process of the run, and reap it, until none is left (at most ~1 s)."""
    for _ in range(1000):
        _reap()
        if _ZYGOTE:
            if not _ask_zygote(b"K"):
                return
            time.sleep(0.001)
            continue
        try:
            if scope == "pidns":
                os.kill(-1, signal.SIGKILL)
            else:
                os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.001)
    _reap()


def _wipe(folder: str) -> bool:
    """Delete everything under ``folder``; return whether it is empty afterwards.

    A run may leave folders without permissions or nested too deep to delete;
    then the host restarts the sandbox, whose /tmp goes with it.
    """

    def retry(func: Any, path: str, _info: Any) -> None:
        try:
            os.chmod(os.path.dirname(path) or ".", 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
        except (OSError, TypeError):
            pass

    try:
        os.chmod(folder, 0o700)
        for entry in list(os.scandir(folder)):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, onerror=retry)
            else:
                os.unlink(entry.path)
        return not os.listdir(folder)
    except (OSError, RecursionError):
        return False


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


def _lingering(scope: str, pgid: int) -> bool:
    """Whether the run left processes behind, allowing children that are exiting a moment."""
    wait_until = time.monotonic() + _ZOMBIE_SECONDS
    _reap()
    alive = _others_alive(scope, pgid)
    while alive and time.monotonic() < wait_until:
        time.sleep(0.002)
        _reap()
        alive = _others_alive(scope, pgid)
    return alive


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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


_ZYGOTE: list[socket.socket] = []  # the launcher's socket to the zygote, if it has one


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


def _ask_zygote(request: bytes) -> bool:
    """Send ``request`` (`toolthink.tool._zygote`); whether the answer is ``1``."""
    zygote = _ZYGOTE[0]
    zygote.sendall(request)
    return zygote.recv(1) == b"1"


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
