"""Sandboxed test execution: run candidate code against unit tests, fast and safely.

``run_tests(code, tests, timeout=...)`` runs ``code`` and then ``tests`` in one
module (the HumanEval/MBPP convention: the tests pass when they finish without an
exception, having run at least one ``assert``) and returns a `TestReport`. RL
calls this thousands of times, so the work happens on a `SandboxPool` (for
``run_tests``, one process-wide pool per configuration): one persistent sandbox
per worker (`toolthink.tool.worker`), each holding a small launcher
(`toolthink.tool._launcher`) that starts a fresh interpreter (``python -I -S``,
exec'd, never forked from the trainer) for every run and keeps the next one
started ahead. Start-up of the sandbox is paid once per
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
import logging
import math
import os
import queue
import secrets
import threading
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType

import attrs

from toolthink.tool.boundary import choose_tests_process
from toolthink.tool.feedback import FeedbackWriter
from toolthink.tool.isolation import Isolation
from toolthink.tool.report import TestReport, read_report
from toolthink.tool.sandbox_config import SANDBOX_PYTHON_ENV, SandboxConfig
from toolthink.tool.worker import SandboxGoneError, Worker

__all__ = [
    "SANDBOX_PYTHON_ENV",
    "SandboxConfig",
    "SandboxPool",
    "default_workers",
    "run_batch",
    "run_tests",
]

log = logging.getLogger(__name__)

_MAX_TIMEOUT = 3600.0


def default_workers() -> int:
    """The number of CPUs this process may run on (at least 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def _stop_all(workers: list[Worker]) -> None:
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
        self._workers = [Worker(self.plan, self.config.fallback_uids, self._launch,
                                 self.config.tests_process) for _ in range(self.size)]  # fmt: skip
        # Last in, first out: sequential runs reuse the warm sandbox, and
        # workers no run needed are never started.
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
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

    def _launch(self, worker: Worker) -> None:
        """Start ``worker``'s sandbox from one of the executor's threads."""
        if threading.get_ident() in self._own_threads:
            worker.start()
        else:
            self._starter.submit(worker.start).result()

    def _run_one(
        self, code: str, tests: str, timeout: float, worker: Worker | None = None
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
        except SandboxGoneError as exc:
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
