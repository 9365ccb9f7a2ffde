"""Sandboxed test execution: run candidate code against unit tests, fast and safely.

``run_tests(code, tests, timeout=...)`` runs ``code`` and then ``tests`` in one
module (the HumanEval/MBPP convention: the tests pass when they finish without an
exception, having run at least one ``assert``) and returns a `TestReport`. RL
calls this thousands of times, so the work happens on a `SandboxPool` (for
``run_tests``, one process-wide pool per configuration): one persistent sandbox
per worker, each holding
a small launcher (`toolthink.tool._launcher`) that starts a fresh interpreter
(``python -I -S``, exec'd, never forked from the trainer) for every run and
keeps the next one started ahead. Start-up of the sandbox is paid once per
worker; each run pays one interpreter start (about 10 ms).

Layers, outermost first: bubblewrap namespaces with a seccomp filter and an
unprivileged uid (`toolthink.tool.isolation`); resource limits that each interpreter sets on itself
(`Limits`); a wall-clock timeout that kills every process of the run; output
capped in bytes; and a per-run secret that only the tests' side can write,
which alone decides pass or fail (`toolthink.tool.report`). By default the
tests run in a process of their own and call the candidate's functions through
a plain-data boundary, so nothing the candidate's process does reaches the
tests or the verdict (`toolthink.tool.boundary`); tests that need objects to
cross run in the candidate's process, under the harness's guard.

Example:
    >>> from toolthink.tool import SandboxPool
    >>> with SandboxPool() as pool:  # doctest: +SKIP
    ...     reports = pool.run_batch([("def f(): return 1", "assert f() == 1")], timeout=5)
    >>> reports[0].passed  # doctest: +SKIP
    True
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import importlib.resources
import json
import logging
import math
import os
import queue
import secrets
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import attrs

from toolthink.tool.boundary import TestsProcess, choose_tests_process
from toolthink.tool.feedback import FeedbackWriter
from toolthink.tool.isolation import Isolation, IsolationPlan, plan_isolation, seccomp_fd
from toolthink.tool.limits import Limits
from toolthink.tool.report import TestReport, read_report
from toolthink.tool.uids import FALLBACK_UIDS, UidLease, lease_uids

__all__ = [
    "SANDBOX_PYTHON_ENV",
    "SandboxConfig",
    "SandboxPool",
    "default_workers",
    "run_batch",
    "run_tests",
]

SANDBOX_PYTHON_ENV = "TOOLTHINK_SANDBOX_PYTHON"
"""Environment variable naming the interpreter inside the sandbox (3.10 or 3.11)."""

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_START_SECONDS = 30.0  # a sandbox starts in well under a second
_GRACE_SECONDS = 10.0  # launcher overhead beyond the run's timeout before we give up on it
_MAX_TIMEOUT = 3600.0


def default_workers() -> int:
    """The number of CPUs this process may run on (at least 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def _isolation_choice(_instance: object, _attribute: object, value: str) -> None:
    if value not in ("auto", "bwrap", "process"):
        msg = f"isolation must be 'auto', 'bwrap' or 'process', got {value!r}"
        raise ValueError(msg)


def _workers(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        msg = f"workers must be a positive int or None (one per CPU), got {value!r}"
        raise ValueError(msg)


def _tests_process(value: object) -> TestsProcess:
    try:
        return TestsProcess(value)
    except ValueError:
        msg = f"tests_process must be 'separate' or 'same', got {value!r}"
        raise ValueError(msg) from None


def _at_least(low: float) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
            msg = f"SandboxConfig.{attribute.name} must be a number >= {low:g}, got {value!r}"
            raise ValueError(msg)

    return check


@attrs.frozen
class SandboxConfig:
    """How test runs are isolated, limited and reported.

    Attributes:
        workers: Sandboxes run in parallel; None means one per CPU.
        isolation: ``"auto"`` (bubblewrap, else a plain subprocess with one
            warning), ``"bwrap"`` (bubblewrap or `SandboxUnavailableError`) or
            ``"process"`` (no bubblewrap).
        limits: Resource limits of each run.
        python: Interpreter inside the sandbox (Python 3.10 or 3.11); default
            ``$TOOLTHINK_SANDBOX_PYTHON``, else None, which picks a usable one
            (see `toolthink.tool.isolation.plan_isolation`).
        bwrap: The bubblewrap executable, a name on PATH or a path.
        uid: Unprivileged uid (and gid) a bubblewrap sandbox runs as when
            toolthink runs as root (65534 is ``nobody``); each sandbox has its
            own user namespace, so its process limit is its own. The fallback
            probes its interpreter as this uid.
        fallback_uids: First uid the fallback leases when toolthink runs as
            root: each fallback sandbox runs as a pair of uids no other
            process uses (`toolthink.tool.uids`), so its process limit is its
            own and its processes are non-dumpable.
        max_failures: Most failing tests listed per report.
        explain_seconds: Wall-clock seconds a failed run may spend, after its
            first failure, running the rest of the tests to list each failing
            one (within the run's timeout); 0 lists the first failure only.
        max_feedback_chars: Cap on the feedback text, characters.
        tests_process: ``"separate"`` (the default: the tests run in a process
            of their own and call the candidate's functions through a plain-data
            boundary; tests that need objects to cross fall back to ``"same"``,
            see `toolthink.tool.boundary`) or ``"same"`` (code and tests in one
            module and process). The default follows issue 14's rule: its
            calibration holds and a run costs 1.08-1.19x one in ``"same"``
            (benchmarks/README.md), under the 1.5x allowed.
    """

    workers: int | None = attrs.field(default=None, validator=_workers)
    isolation: str = attrs.field(default="auto", validator=_isolation_choice)
    limits: Limits = attrs.field(factory=Limits)
    python: str | None = attrs.field(factory=lambda: os.environ.get(SANDBOX_PYTHON_ENV) or None)
    bwrap: str = "bwrap"
    uid: int = 65534
    fallback_uids: int = attrs.field(default=FALLBACK_UIDS, validator=_at_least(1))
    max_failures: int = attrs.field(default=5, validator=_at_least(1))
    explain_seconds: float = attrs.field(default=1.0, validator=_at_least(0))
    max_feedback_chars: int = attrs.field(default=2000, validator=_at_least(1))
    tests_process: TestsProcess = attrs.field(
        default=TestsProcess.SEPARATE, converter=_tests_process
    )

    def plan(self) -> IsolationPlan:
        """Check (once per process) how sandboxes start with this configuration."""
        return plan_isolation(
            self.isolation,
            python=self.python,
            bwrap=self.bwrap,
            uid=self.uid,
            tmp_bytes=self.limits.tmp_bytes,
        )


def _script(name: str) -> str:
    return importlib.resources.files("toolthink.tool").joinpath(name).read_text("utf-8")


class _SandboxGoneError(Exception):
    """The worker's sandbox ended or stopped answering."""


class _Worker:
    """One sandbox: a launcher inside bubblewrap (or a plain process), and its pipes."""

    def __init__(
        self,
        plan: IsolationPlan,
        fallback_uids: int,
        launch: Callable[[_Worker], None],
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
        args = ["-I", "-S", "-B", "-c", _script("_launcher.py"), self.plan.kill_scope,
                _script("_harness.py"), ipc, _script("_tests_runner.py"), _script("_proxies.py"),
                _script("_candidate.py"), _script("_wire.py"), self.first.value,
                _script("_zygote.py")]  # fmt: skip
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
            raise _SandboxGoneError(msg)

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
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
            raise _SandboxGoneError(msg)
        body = _encode(frame)
        try:
            stdin.write(_HEADER.pack(len(body)) + body)
        except OSError as exc:
            raise _SandboxGoneError(f"cannot write to the sandbox: {exc}") from exc

    def _receive(self, deadline: float) -> dict[str, Any]:
        stdout = self.proc.stdout if self.proc is not None else None
        if stdout is None:
            msg = "the sandbox is not running"
            raise _SandboxGoneError(msg)
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
                raise _SandboxGoneError(msg)
            if not poller.poll(math.ceil(remaining * 1000)):
                continue
            chunk = os.read(fd, size - len(data))
            if not chunk:
                detail = self._stderr()
                self.stop()
                msg = "the sandbox ended" + (f": {detail}" if detail else "")
                raise _SandboxGoneError(msg)
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
        raise _SandboxGoneError(msg)
    return value


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        msg = f"timeout must be a number of seconds, got {timeout!r}; pass e.g. timeout=5.0"
        raise TypeError(msg)
    if not (0 < timeout <= _MAX_TIMEOUT) or math.isnan(timeout):
        msg = f"timeout must be in (0, {_MAX_TIMEOUT:g}] seconds, got {timeout!r}"
        raise ValueError(msg)
    return float(timeout)


def _check_source(name: str, value: object) -> str:
    if not isinstance(value, str):
        msg = f"{name} must be Python source text (str), got {type(value).__name__}"
        raise TypeError(msg)
    return value


class SandboxPool:
    """A reusable pool of sandboxes; close it (or use ``with``) to end them.

    Args:
        config: How runs are isolated and limited; defaults to `SandboxConfig()`.

    Raises:
        SandboxUnavailableError: No sandbox can start (see `SandboxConfig.isolation`).
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.plan = self.config.plan()
        self.size = self.config.workers or default_workers()
        self._workers = [_Worker(self.plan, self.config.fallback_uids, self._launch,
                                 self.config.tests_process) for _ in range(self.size)]  # fmt: skip
        # Last in, first out: sequential runs reuse the warm sandbox, and
        # workers no run needed are never started.
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        for worker in self._workers:
            self._idle.put(worker)
        # Sandboxes are started from the executor's threads, which live as long as
        # the pool: bubblewrap's --die-with-parent follows the thread that started it.
        self._own_threads: set[int] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.size, thread_name_prefix="toolthink-sandbox",
            initializer=lambda: self._own_threads.add(threading.get_ident()),
        )  # fmt: skip
        # Starts a sandbox for a run made in the caller's thread: a thread of its
        # own, so it never waits behind runs that wait for a worker.
        self._starter = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="toolthink-sandbox-start"
        )
        self._closed = False
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_all, self._workers)

    @property
    def isolation(self) -> Isolation:
        """The isolation every run of this pool gets."""
        return self.plan.isolation

    def run(self, code: str, tests: str, *, timeout: float) -> TestReport:
        """Run ``code`` then ``tests`` in one fresh interpreter.

        Args:
            code: The candidate's source; its line numbers are the feedback's.
            tests: Source run after the code in the same module; it passes when it
                finishes without an exception.
            timeout: Wall-clock limit of the run, seconds.

        Returns:
            The report (never raises for anything the code does).

        Raises:
            TypeError, ValueError: A bad argument (not str, or a timeout not in
                (0, 3600] seconds).
            RuntimeError: The pool is closed.
        """
        return self.run_batch([(code, tests)], timeout=timeout)[0]

    def run_batch(self, items: Iterable[tuple[str, str]], *, timeout: float) -> list[TestReport]:
        """Run many ``(code, tests)`` pairs in parallel; reports come back in order.

        Args:
            items: ``(code, tests)`` pairs, as for `run`.
            timeout: Wall-clock limit of each run, seconds.

        Returns:
            One report per pair, in the order given.
        """
        timeout = _check_timeout(timeout)
        jobs = [(_check_source("code", c), _check_source("tests", t)) for c, t in items]
        with self._lock:
            if self._closed:
                msg = "the SandboxPool is closed; create a new one"
                raise RuntimeError(msg)
            if len(jobs) == 1:  # in this thread: no hand-over to the executor and back
                worker = self._idle.get()  # under the lock, so close() waits for this run
            else:
                futures = [self._executor.submit(self._run_one, c, t, timeout) for c, t in jobs]
        if len(jobs) == 1:
            return [self._run_one(*jobs[0], timeout, worker)]
        return [future.result() for future in futures]

    def _launch(self, worker: _Worker) -> None:
        """Start ``worker``'s sandbox from one of the executor's threads."""
        if threading.get_ident() in self._own_threads:
            worker.start()
        else:
            self._starter.submit(worker.start).result()

    def _run_one(
        self, code: str, tests: str, timeout: float, worker: _Worker | None = None
    ) -> TestReport:
        secret = secrets.token_hex(16)
        where = choose_tests_process(self.config.tests_process, tests)
        job = {
            "tests_process": where.value,
            "code": code,
            "tests": tests,
            "secret": secret,
            "timeout": timeout,
            "limits": self.config.limits.as_job(),
            "max_failures": self.config.max_failures,
            "explain_seconds": self.config.explain_seconds,
        }
        worker = worker if worker is not None else self._idle.get()
        try:
            result = worker.run(job, timeout)
        except _SandboxGoneError as exc:
            log.warning("sandbox worker failed (%s); it will be restarted", exc)
            worker.stop()
            result = {"sandbox_error": str(exc), "wall": 0.0}
        except BaseException:  # interrupted mid-run: its answer must not reach the next run
            worker.stop(kill=True)
            raise
        finally:
            self._idle.put(worker)
        writer = FeedbackWriter(timeout, self.config.limits, self.config.max_feedback_chars,
                                self.config.max_failures, self.config.explain_seconds)  # fmt: skip
        return read_report(result, secret=secret, tests=tests, isolation=self.plan.isolation,
                           render=writer, tests_process=where)  # fmt: skip

    def close(self) -> None:
        """End every sandbox (after the runs under way); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # Stopped from the executor's threads while all of them live: a
            # sandbox is killed when the thread that started it ends
            # (--die-with-parent), and one killed so, before the launcher
            # exited, left it defunct under the host's pid 1.
            try:
                stops = [self._executor.submit(self._stop_one) for _ in range(self.size)]
            except RuntimeError:  # the interpreter is exiting: its threads are ending anyway
                stops = []
        for stop in stops:
            stop.result()
        self._executor.shutdown(wait=True)
        self._starter.shutdown(wait=True)
        self._finalizer()

    def _stop_one(self) -> None:
        worker = self._idle.get()  # once its run (if any) is over
        worker.stop()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_batch(
    items: Sequence[tuple[str, str]],
    *,
    timeout: float,
    config: SandboxConfig | None = None,
) -> list[TestReport]:
    """Run many ``(code, tests)`` pairs on a pool made for this call, then close it.

    For repeated calls keep one `SandboxPool` open instead: starting the pool
    costs about one sandbox start per worker.

    Args:
        items: ``(code, tests)`` pairs.
        timeout: Wall-clock limit of each run, seconds.
        config: Sandbox configuration; defaults to `SandboxConfig()`. The pool
            has at most ``len(items)`` workers.

    Returns:
        One report per pair, in order.
    """
    config = config if config is not None else SandboxConfig()
    workers = max(min(config.workers or default_workers(), len(items)), 1)
    with SandboxPool(attrs.evolve(config, workers=workers)) as pool:
        return pool.run_batch(items, timeout=timeout)


_shared: dict[SandboxConfig, SandboxPool] = {}
_shared_lock = threading.Lock()
_registered: list[bool] = []


def _shared_pool(config: SandboxConfig) -> SandboxPool:
    """The process-wide pool of ``config``, started on first use, closed at exit."""
    with _shared_lock:
        pool = _shared.get(config)
        if pool is None:
            pool = _shared[config] = SandboxPool(config)
            if not _registered:  # after the pool: its executor registers its own exit first
                _registered.append(True)
                # Run before the interpreter ends the executors' threads (which
                # runs these in reverse order): see SandboxPool.close.
                register = getattr(threading, "_register_atexit", atexit.register)
                register(_close_shared)
        return pool


def _close_shared() -> None:
    with _shared_lock:
        pools = list(_shared.values())
        _shared.clear()
    for pool in pools:
        pool.close()


def _forget_shared() -> None:
    """In a forked child: drop the parent's pools without ending its sandboxes."""
    global _shared_lock  # noqa: PLW0603 (the parent's lock may have been held at the fork)
    _shared_lock = threading.Lock()
    for pool in _shared.values():
        pool._finalizer.detach()
        for worker in pool._workers:
            proc, worker.proc = worker.proc, None
            for stream in (proc.stdin, proc.stdout) if proc is not None else ():
                if stream is not None:  # so the launcher sees its host close fd 0
                    stream.close()
    _shared.clear()


os.register_at_fork(after_in_child=_forget_shared)


def run_tests(
    code: str, tests: str, *, timeout: float, config: SandboxConfig | None = None
) -> TestReport:
    """Run ``code`` and then ``tests`` in one module, in a fresh interpreter in a sandbox.

    The tests pass when they run to the end without an exception and run at
    least one ``assert`` (the HumanEval and MBPP convention). The sandbox is
    that of a process-wide pool, one per distinct ``config``, started on the
    first call (tens of milliseconds) and closed at exit (``atexit``); a
    forked child starts its own. Each run still gets a fresh interpreter
    (`SandboxPool.run`), so a loop of calls costs what a `SandboxPool` does.

    Args:
        code: The candidate's source; the feedback's line numbers are its lines.
        tests: Source run after the code, in the same module.
        timeout: Wall-clock limit, seconds.
        config: Sandbox configuration; defaults to `SandboxConfig()`.

    Returns:
        The report: ``passed``, ``feedback`` (text for the model), ``failures``,
        ``isolation`` and more (see `TestReport`).

    Raises:
        SandboxUnavailableError: No sandbox can start (see `SandboxConfig.isolation`).
    """
    pool = _shared_pool(config if config is not None else SandboxConfig())
    return pool.run(code, tests, timeout=timeout)
