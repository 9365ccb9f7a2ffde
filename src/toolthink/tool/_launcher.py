"""The launcher: lives inside one sandbox and starts a fresh interpreter per run.

`toolthink.tool.sandbox` starts it once per worker as
``python -I -S -B -c <this source> <kill scope> <harness source>`` inside the
sandbox (see `toolthink.tool.isolation`). It is not imported by toolthink: it runs
on the sandbox's interpreter with the standard library only.

Protocol: jobs arrive on fd 0 and results leave on fd 1, one frame each (a 4-byte
big-endian length, then UTF-8 JSON). For each job the launcher

1. takes the interpreter it started beforehand (``python -I -S -B -u -c <harness>``,
   unbuffered so stdout and stderr interleave as written; started early so its
   start-up overlaps the previous result's trip to the host), sets its
   resource limits with ``prlimit`` and sends it the job (code, compiled tests,
   secret, the names of the modules code and tests import) on its stdin;
2. collects stdout+stderr (capped in bytes) and the harness's record channel
   (fd 3) until the interpreter exits or the wall-clock timeout passes;
3. kills every other process of the run: with kill scope ``pidns`` (bubblewrap's
   own pid namespace) ``kill(-1, SIGKILL)``, which reaches double-forked and
   ``setsid`` children too; with ``session`` (the fallback) the process group;
4. empties the working folder and /dev/shm, starts the next interpreter, and
   answers with the exit status, flags and captured bytes.

The launcher never decides pass or fail: the host checks the harness's verdict
against the run's secret. The tests are compiled here (cached): once as given,
and once with every ``assert`` and top-level call wrapped so that, after a
failure, the harness can list each failing test (`toolthink.tool._harness`).
"""

from __future__ import annotations

import ast
import fcntl
import json
import marshal
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
from typing import Any

_HEADER = struct.Struct(">I")
_RECORDS_LIMIT = 256 * 1024  # bytes; the harness writes a few KiB at most
_DRAIN_SECONDS = 0.5  # after the run: how long to wait for pipes to close
_ZOMBIE_SECONDS = 0.05  # after exit: time for pid 1 to reap finished children
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
        """Set the interpreter's limits and send it the job."""
        _send(self, job, compiled)

    def settle(self) -> tuple[bytes, bool]:
        """Nothing to end besides the interpreter (see `toolthink.tool._tests_runner.Pair`)."""
        return b"", False

    def discard(self) -> None:
        """Kill and reap an interpreter started for a job that never came."""
        os.kill(self.pid, signal.SIGKILL)
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


def _spawn(python: str, script: list[str]) -> _Interpreter:
    """Start ``python -I -S -B -u -c <script[0]> <script[1:]...>`` on fresh pipes."""
    job_r, job_w = _pipe()
    out_r, out_w = _pipe()
    rec_r, rec_w = _pipe()
    dup2 = os.POSIX_SPAWN_DUP2
    pid = os.posix_spawn(
        python,
        [python, "-I", "-S", "-B", "-u", "-c", *script],
        _ENV,
        file_actions=[(dup2, job_r, 0), (dup2, out_w, 1), (dup2, out_w, 2), (dup2, rec_w, 3)],
        setsid=True,
    )
    for fd in (job_r, out_w, rec_w):
        os.close(fd)
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
_compiled: dict[str, _Compiled | str] = {}


def _compile_tests(tests: str) -> _Compiled | str:
    """The tests compiled, or a syntax error text.

    Returns:
        The marshalled code of the tests and of their isolated form, and the
        top-level names of the modules they import (which the harness imports
        before its guard, see `toolthink.tool._harness`).
    """
    hit = _compiled.get(tests)
    if hit is not None:
        return hit
    try:
        plain = compile(tests, "<tests>", "exec", dont_inherit=True)
        tree = ast.parse(tests, "<tests>")
        imports = frozenset(_imported(tree))
        isolated = compile(_isolate(tree), "<tests>", "exec", dont_inherit=True)
        result: _Compiled | str = (marshal.dumps(plain), marshal.dumps(isolated), imports)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # see _harness._runner
        result = f"{type(exc).__name__}: {exc}"
    if len(_compiled) >= _CACHE_SIZE:
        _compiled.pop(next(iter(_compiled)))
    _compiled[tests] = result
    return result


def _set_limits(pid: int, limits: dict[str, int], timeout: float) -> None:
    cpu = math.ceil(timeout) + 1
    for name, soft, hard in (
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_AS", limits["memory_bytes"], limits["memory_bytes"]),
        ("RLIMIT_FSIZE", limits["file_size_bytes"], limits["file_size_bytes"]),
        ("RLIMIT_NPROC", limits["processes"], limits["processes"]),
        ("RLIMIT_NOFILE", limits["open_files"], limits["open_files"]),
        ("RLIMIT_CORE", 0, 0),
    ):
        resource.prlimit(pid, getattr(resource, name), (soft, hard))


def _others_alive(scope: str, pgid: int) -> bool:
    """Whether any process of the run besides the launcher (and pid 1) is alive."""
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
    """SIGKILL every other process of the run until none is left (at most ~1 s)."""
    for _ in range(1000):
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
    """Set the interpreter's limits, then hand it the job on its stdin."""
    _set_limits(proc.pid, job["limits"], float(job["timeout"]))
    payload = marshal.dumps({
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
    """Whether the run left processes behind, allowing pid 1 a moment to reap zombies."""
    wait_until = time.monotonic() + _ZOMBIE_SECONDS
    alive = _others_alive(scope, pgid)
    while alive and time.monotonic() < wait_until:
        time.sleep(0.002)
        alive = _others_alive(scope, pgid)
    return alive


def _run(proc: Any, job: dict[str, Any], scope: str, workdir: str,
         hardened: bool) -> dict[str, Any]:  # fmt: skip
    """Run one job on the waiting interpreter; return the launcher's result frame.

    ``proc`` is an `_Interpreter`, or a `toolthink.tool._tests_runner.Pair`.
    """
    started = time.monotonic()
    compiled = _compile_tests(job["tests"])
    if isinstance(compiled, str):
        return {"tests_error": compiled, "wall": 0.0}
    proc.start(job, compiled, _set_limits, hardened)
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


def _nondumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``, so that no process of a run reaches this one.

    Jobs and secrets pass through this process: ``pidfd_getfd`` would hand a run
    its descriptors, ``/proc/<pid>/mem`` (in the fallback) its memory. Both need
    ptrace access, refused without ``CAP_SYS_PTRACE`` to a non-dumpable target;
    bubblewrap's seccomp filter does not deny ``pidfd_getfd``.
    Through ``_ctypes`` itself: ``import ctypes`` costs about an interpreter start.
    """
    try:
        ct: Any = __import__("_ctypes")  # (typed loosely: its stub fits ctypes' own use)

        class Int(ct._SimpleCData):  # type: ignore[misc]  # (ctypes.c_int)
            _type_ = "i"

        class Function(ct.CFuncPtr):  # type: ignore[misc]  # (a C function of libc)
            _flags_ = ct.FUNCFLAG_CDECL
            _restype_ = Int

        class Libc:  # what CFuncPtr reads from a ctypes.CDLL
            _handle = ct.dlopen(None)

        prctl = Function(("prctl", Libc))
        return bool(prctl(4, 0, 0, 0, 0) == 0)  # PR_SET_DUMPABLE
    except (ImportError, OSError, AttributeError, TypeError):
        return False


def _module(name: str, source: str, **names: Any) -> Any:
    """Exec ``source`` as a module named ``name`` whose globals start with ``names``."""
    module = type(sys)(name)
    module.__dict__.update(names)
    exec(source, module.__dict__)
    return module


def main() -> None:
    """Serve jobs until the host closes fd 0 (or a run leaves files it cannot delete).

    argv: the kill scope, the harness's source, then the sources of the separate
    tests' process: `toolthink.tool._tests_runner`, `toolthink.tool._proxies`,
    `toolthink.tool._candidate` and `toolthink.tool._wire`; last, the kind of
    interpreter to start ahead of the first job (``same`` or ``separate``). A
    job's ``tests_process`` says which kind runs it; the next one is started
    ahead as the last job's kind.
    """
    scope, harness = sys.argv[1], sys.argv[2]
    runner_source, proxies_source, candidate_source, wire_source = sys.argv[3:7]
    wire = _module("_toolthink_wire", wire_source)
    proxies = _module("_toolthink_proxies", proxies_source, wire=wire)
    runner = _module("_toolthink_tests_runner", runner_source, proxies=proxies, pipe=_pipe)
    hardened = _nondumpable()
    workdir = os.getcwd()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    python = sys.executable

    def spawn(kind: str) -> Any:
        if kind == "separate":
            return runner.Pair(python, candidate_source, wire_source)
        return _spawn(python, [harness])

    kind = "separate" if sys.argv[7:8] == ["separate"] else "same"
    proc = spawn(kind)
    _write_frame(1, {"ready": True, "nondumpable": hardened})
    while True:
        job = _read_frame(0)
        if job is None:
            break
        wanted = "separate" if job.get("tests_process") == "separate" else "same"
        if wanted != kind:
            proc.discard()
            kind = wanted
            proc = spawn(kind)
        result = _run(proc, job, scope, workdir, hardened)
        if result.get("dirty"):
            _write_frame(1, result)
            return  # the host starts a fresh sandbox
        if "tests_error" not in result:
            proc = spawn(kind)
        _write_frame(1, result)
    proc.discard()


if __name__ == "__main__":
    main()
