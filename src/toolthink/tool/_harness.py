"""The harness: one fresh interpreter runs one candidate against its tests.

Started by the launcher (`toolthink.tool._launcher`) as
``python -I -S -B -u -c <this source>``; it is not imported by toolthink and uses the
standard library only (avoiding ``json``, ``re`` and ``typing``, whose imports
cost more than a short test run).

It reads its job from fd 0 (marshal: the candidate ``code``, the ``tests``
compiled by the launcher with a counter call before each ``assert``, their
``isolated`` form, the ``imports`` named in either, the run's ``secret``, the
``rlimits`` it sets on itself before anything else), then, in a second thread
(the *runner*):

1. imports the standard-library modules among ``imports`` (from their ``.pyc``
   files, which the guard then refuses), and installs the *guard*, an audit
   hook (PEP 578) that alone holds the secret;
2. runs the code and then the tests in one ``__main__`` module: the code
   compiled as ``<code>`` (so line numbers are the editor's), the tests as
   ``<tests>``;
3. asks the guard for the verdict with ``sys.audit("toolthink.verdict", ok)``,
   where ``ok`` is True only when both ran to the end without an exception and
   at least one ``assert`` of the tests ran, None when they ran to the end
   without one (tests that define a check and never call it pass anything:
   counted at run time, since whether a check is called is not visible in the
   source). The guard writes ``V <secret> PASS``, ``EMPTY`` or ``FAIL`` to fd 3
   only when that call comes from the runner's own frame; any other caller gets
   a FAIL written and an error. The count lives in the candidate's process: a
   candidate can raise it (turning EMPTY into PASS for tests that run no
   assert, as before the count existed), never lower it without an exception.

Then (the verdict is already written) the runner describes a failure and runs
the *isolated* tests, where each ``assert`` and top-level call is wrapped, to
list every failing test: one ``R {json}`` line per failure on fd 3, for at most
``explain_seconds``. The main thread only waits for the runner and exits. Pass or
fail is decided by the host from the secret line alone, never by the exit
status (``sys.exit(0)`` before the asserts exits 0) or by stdout.

The guard and what keeps the candidate from the secret, which lives in the
same process, are `toolthink.tool._guard`'s: the harness's program ends with
that module's source followed by this one's (`toolthink.tool.programs.HARNESS`,
whose first parts are the record channel and the code's module). A reward
from this harness is trustworthy only as far as the interpreter is, which is
why it is no longer the default (`toolthink.tool.boundary`).
"""

from __future__ import annotations

import _thread
import faulthandler
import gc
import marshal
import os
import sys
from itertools import count as _count
from time import sleep as _sleep

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._code_module import _COMPILE_ERRORS, _compile_failure, _fresh_module, _text
    from toolthink.tool._guard import _UNSAFE_MODULES, _VERDICT_EVENT, _call_site, _guard
    from toolthink.tool._records import (
        _VERDICT_FD,
        _Enough,
        _failure_recorder,
        _mute_output,
        _record,
    )

_ASSERT_NAME = "__toolthink_assert__"  # called before each assert (the launcher's rewrite)
_NOT_PRELOADED = frozenset((
    # Imports that act (print, open a browser, change sys.path), which the
    # candidate's code may name without ever running.
    "__main__", "antigravity", "site", "this",
))

def _preload(names: list[str]) -> None:
    """Import the standard-library modules the code and tests name, before the guard.

    Under the guard no ``.pyc`` file is read, so a module imported during the
    tests is compiled from its source; importing the named ones here, from
    their ``.pyc``, keeps the common case fast. Only top-level standard-library
    names, never an unsafe module (made unimportable meanwhile, so no module
    imported here holds one) or one whose import does more than define names.
    A module that fails to import is skipped: the candidate meets the same
    error in its run.

    Args:
        names: Top-level module names found in the code and tests by the launcher.
    """
    stdlib = sys.stdlib_module_names
    for unsafe in _UNSAFE_MODULES:
        sys.modules[unsafe] = None  # type: ignore[assignment]  # importing it raises ImportError
    for name in names:
        if (type(name) is str and name in stdlib and name not in _UNSAFE_MODULES
                and name not in _NOT_PRELOADED and name not in sys.modules):  # fmt: skip
            try:  # noqa: SIM105 (no contextlib import)
                __import__(name)
            except BaseException:  # (its error is the candidate's to see, in its run)
                pass
    for unsafe in _UNSAFE_MODULES:
        sys.modules.pop(unsafe, None)



def _describe(exc: BaseException) -> dict[str, object]:
    """Type, message, and the deepest lines of the code and of the tests it passed."""
    code_line = test_line = None
    tb = exc.__traceback__
    while tb is not None:
        try:
            filename = tb.tb_frame.f_code.co_filename
        except BaseException:  # (the guard refuses its own frame)
            filename = ""
        if filename == "<code>":
            code_line = tb.tb_lineno
        elif filename == "<tests>":
            test_line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == "<code>" and code_line is None:
        code_line = exc.lineno
    try:
        name = str(type(exc).__name__)
    except BaseException:
        name = "Exception"
    return {"type": name, "message": _text(exc), "code_line": code_line, "test_line": test_line}


def _runner(job: dict[str, Any]) -> None:
    """Run code then tests in this thread, ask the guard for the verdict, then explain."""
    tests = marshal.loads(job["tests"])  # before the guard, which refuses marshal
    _preload(job["imports"])
    for unsafe in _UNSAFE_MODULES:  # none is loaded here; make sure none is reachable
        sys.modules.pop(unsafe, None)
    # Bound before any candidate code runs (it may rebind sys.audit, gc.disable).
    run, audit, event, gc_off, tally = exec, sys.audit, _VERDICT_EVENT, gc.disable, next
    here = sys._getframe()
    _guard(job.pop("secret"), here, _call_site(here.f_code, "audit"))
    del here
    namespace = _fresh_module()
    stage, asserts = "compile", _count()
    ok: bool | None = False
    failure: BaseException | None = None
    try:
        code = compile(job["code"], "<code>", "exec", dont_inherit=True)
    except _COMPILE_ERRORS as exc:
        failure = exc
    else:
        stage = "code"
        try:
            run(code, namespace)
            stage = "tests"
            namespace[_ASSERT_NAME] = asserts.__next__
            run(tests, namespace)
            ok = True if tally(asserts) else None  # None: no assert ran, no verdict either way
        except BaseException as exc:  # (SystemExit and all count as failures)
            failure = exc
    gc_off()  # from here to the verdict nothing is freed, no finalizer runs
    audit(event, ok)  # the only load of `audit` in this function: see _call_site
    # The verdict is written; what follows only explains a failure.
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (the candidate may have replaced the stream; no contextlib import)
            stream.flush()
        except BaseException:
            pass
    if failure is None:
        return
    if stage == "compile":
        _record(kind="syntax", **_compile_failure(failure))
        return
    _record(kind="failure", phase=1, stage=stage, **_describe(failure))
    if stage == "tests" and float(job["explain_seconds"]) > 0:
        _explain(job, int(job["max_failures"]), float(job["explain_seconds"]))


def _explain(job: dict[str, Any], limit: int, seconds: float) -> None:
    """Run the isolated tests on a fresh module and record each failing test.

    Stops after ``limit`` failures, or after ``seconds`` of wall-clock time (a
    timer thread ends the process: the tests may loop where the first failure
    did not).
    """
    gc.enable()  # off since the verdict
    _mute_output()
    record, count = _failure_recorder(limit, _describe)

    def stop_after() -> None:
        _sleep(seconds)
        _record(kind="explained", count=count[0], complete=False)
        os._exit(0)

    _thread.start_new_thread(stop_after, ())
    namespace = _fresh_module()
    namespace["__toolthink_record__"] = record
    complete = True
    try:
        exec(compile(job["code"], "<code>", "exec", dont_inherit=True), namespace)
        exec(marshal.loads(job["isolated"]), namespace)
    except _Enough:
        complete = False
    except BaseException as exc:  # (a failure outside any assert ends the list)
        count[0] += 1
        _record(kind="failure", phase=2, **_describe(exc))
    _record(kind="explained", count=count[0], complete=complete)


def _limit(rlimits: list[tuple[int, int, int]]) -> None:
    """Set this process's resource limits, soft and hard, before any candidate code runs.

    Set here rather than by the launcher (``prlimit``): in the fallback the
    interpreter runs with a real uid unlike its effective one (non-dumpable,
    see `toolthink.tool.isolation`), which ``prlimit`` from another process
    may not change. An unprivileged process cannot raise a hard limit again.
    """
    import resource  # noqa: PLC0415 (an extension in lib-dynload; needed by every run)

    for which, soft, hard in rlimits:
        resource.setrlimit(which, (soft, hard))


def _read_job() -> dict[str, Any]:
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    job: dict[str, Any] = marshal.loads(b"".join(chunks))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return job


def main() -> None:
    """Run one job in a second thread; this (main) thread only waits, then exits.

    The main thread runs no candidate code, ever: Python signal handlers run only
    there, and one interrupting the guard could read its frame. If the candidate
    wakes it early (it can reach the lock), it exits at once, with no verdict.
    """
    import _signal  # type: ignore[import-not-found]  # noqa: PLC0415 (no stub; no enum import)

    job = _read_job()
    timeout = float(job["timeout"])
    try:
        _limit(job["rlimits"])
    except (OSError, ValueError) as exc:  # run nothing without its limits
        _record(kind="harness", message=f"cannot set the resource limits: {exc}")
        os._exit(3)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # the only Python-level handler
    faulthandler.enable(file=_VERDICT_FD)
    try:  # noqa: SIM105 (where a timed-out run was: a nicety; no contextlib import)
        faulthandler.dump_traceback_later(max(timeout - 0.2, timeout * 0.8), file=_VERDICT_FD)
    except RuntimeError:
        pass
    done = _thread.allocate_lock()
    done.acquire()

    def target() -> None:
        try:
            _runner(job)
        finally:
            done.release()

    try:
        _thread.start_new_thread(target, ())
    except RuntimeError as exc:  # no thread: the process limit is used up by others
        _record(kind="harness", message=f"cannot start the test thread: {exc}")
        os._exit(3)
    done.acquire()
    os._exit(0)


if __name__ == "__main__":
    main()
