"""The tests' process: runs the tests, calls the candidate in another process, decides.

The separate-test-process mode (`toolthink.tool.boundary`). Started by the
launcher (`toolthink.tool._launcher`) in place of the one-process harness, as
``python -I -S -B -u -c <this source> <candidate source> <wire source>``, with
the harness's descriptors: the job on fd 0 (marshal, from the launcher), output
on 1 and 2, records and the verdict on fd 3. Standard library only; not
imported by toolthink.

At start, before its job arrives, it makes itself non-dumpable
(``prctl(PR_SET_DUMPABLE, 0)``) and starts the candidate's interpreter
(`toolthink.tool._candidate`) as its child. Then, for the job:

1. it sets the child's resource limits (the launcher's limits, per process) and
   sends it the code; the child runs it as ``__main__`` and answers with its
   top-level names;
2. it runs the tests in a fresh ``__main__`` of its own, where each callable of
   the code is a proxy that sends the call's arguments to the child and returns
   its answer, and each plain-data constant is a copy. Only plain data crosses,
   both ways (`toolthink.tool._wire`); an exception raised by the code comes back
   as its type name, builtin base, args and message and is raised here as an
   exception of that builtin class (``StopIteration`` and the ``BaseException``-only
   classes become a generic one, so the code cannot stop the tests' iterations
   or exits);
3. it writes ``V <secret> PASS`` on fd 3 when the tests ran to the end without
   an exception (and nothing changed its own limits meanwhile), else ``FAIL``;
   after a failure it lists each failing test as the harness does, reloading the
   code in the child and running the isolated tests for at most
   ``explain_seconds``;
4. it kills and reaps the child, then exits.

If the child dies before the verdict, this process ends the same way (the same
signal, or the same exit status) with no verdict, after copying the child's
fatal-error dump to fd 3, so a crash or an ``os._exit`` reads as it does with
the one-process harness.

Why the verdict cannot be forged from the child. The tests, their expected
values and the secret exist only here; this process runs none of the code's
functions and receives only plain data, decoded by pure Python with bounds
(never ``marshal``, which builds code objects and is unsafe on crafted
input). The child has no descriptor of this process's record channel or job
pipe. What is left is access to this process from outside:

- with bubblewrap there is no /proc, and seccomp denies ptrace and
  process_vm_readv/writev;
- both processes have the same uid, and ``pidfd_getfd`` (which bubblewrap's
  filter does not deny) would hand the child this process's fd 3, and
  ``/proc/<pid>/mem`` (in the fallback, which has /proc) its memory. Both need
  ptrace access, which the kernel refuses to a process without
  ``CAP_SYS_PTRACE`` when the target is non-dumpable; hence the ``prctl`` above,
  made before the child exists (a failed ``prctl`` is a harness error: no
  verdict). The launcher, which holds the run's secret too, does the same;
- the child can still signal this process or lower its resource limits (same
  uid). Either makes the tests fail or the run end without a verdict, never
  pass: SIGINT is ignored, every other signal this process does not handle ends
  it, and a PASS also needs its limits unchanged.

A different uid for the tests (the alternative) needs privileges the sandbox
does not have; running the tests on the host would put dataset code in the
trainer's process.
"""

from __future__ import annotations

import builtins
import faulthandler
import marshal
import os
import resource
import signal
import sys
from _json import encode_basestring_ascii as _quote
from time import sleep as _sleep

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

_VERDICT_FD = 3
_MESSAGE_CHARS = 500
_DUMP_BYTES = 64 * 1024
_PR_SET_DUMPABLE = 4
_LIMITS = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE",
           "RLIMIT_CORE")  # fmt: skip
_NOT_IMPORTED = frozenset(("__main__", "antigravity", "this", "idlelib", "tkinter", "turtle",
                           "turtledemo", "webbrowser"))  # fmt: skip
_PLAIN = "None, bool, int, float, complex, str, bytes and lists, tuples, dicts, sets of them"


if TYPE_CHECKING or __name__ != "__main__":  # imported: by tests and mypy
    from toolthink.tool import _wire as wire
else:  # run: the wire module, from the source the launcher passed
    wire = type(sys)("_toolthink_wire")
    exec(sys.argv[2], wire.__dict__)


class BoundaryError(BaseException):
    """A value that cannot cross, or a child that broke the protocol.

    A ``BaseException``: ``except Exception`` in the tests does not swallow it.
    """


class CandidateError(Exception):
    """Raised for the code's exception whose builtin base cannot be raised here as is."""


class CandidateExit(BaseException):
    """Raised for the code's SystemExit, KeyboardInterrupt or GeneratorExit."""


class _Gone(BaseException):
    """The child closed its channel (it died, or closed it)."""


class _Enough(BaseException):
    """Raised by the failure recorder once ``max_failures`` are listed."""


class _Stop(BaseException):
    """The explanation's time is up."""


def _value(value: object) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return str(_quote(str(value)))


def _record(**fields: object) -> None:
    body = ",".join(_quote(key) + ":" + _value(value) for key, value in fields.items())
    try:  # noqa: SIM105 (no contextlib import)
        os.write(_VERDICT_FD, ("\nR {" + body + "}\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


def _describe(exc: BaseException) -> dict[str, object]:
    """Type, message, the code's line (sent by the child) and the tests' deepest line."""
    test_line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            test_line = tb.tb_lineno
        tb = tb.tb_next
    code_line = exc.__dict__.get("_toolthink_code_line") if hasattr(exc, "__dict__") else None
    if type(code_line) is not int:
        code_line = None
    return {"type": type(exc).__name__, "message": _text(exc), "code_line": code_line,
            "test_line": test_line}  # fmt: skip


def _nondumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: no ptrace, pidfd_getfd or /proc/<pid>/mem access."""
    try:
        import ctypes  # noqa: PLC0415 (only here; this process runs no code under test)

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (ImportError, OSError, AttributeError):
        return False


class _Child:
    """The candidate's interpreter and the two ends of its channel."""

    def __init__(self, candidate_source: str, wire_source: str) -> None:
        req_r, self.requests = os.pipe()
        self.replies, rep_w = os.pipe()
        self.dumps, dump_w = os.pipe()
        dup2 = os.POSIX_SPAWN_DUP2
        python = sys.executable
        self.pid = os.posix_spawn(
            python,
            [python, "-I", "-S", "-B", "-u", "-c", candidate_source, wire_source],
            {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"},
            file_actions=[(dup2, req_r, 0), (dup2, rep_w, 3), (dup2, dump_w, 4)],
        )
        for fd in (req_r, rep_w, dump_w):
            os.close(fd)
        self.status: int | None = None
        self.gone = False

    def limit(self, limits: dict[str, int], timeout: float) -> None:
        """The launcher's limits (`toolthink.tool._launcher`), never above the child's own."""
        cpu = int(-(-timeout // 1)) + 1
        values = {"RLIMIT_CPU": (cpu, cpu + 1), "RLIMIT_AS": limits["memory_bytes"],
                  "RLIMIT_FSIZE": limits["file_size_bytes"], "RLIMIT_NPROC": limits["processes"],
                  "RLIMIT_NOFILE": limits["open_files"], "RLIMIT_CORE": 0}  # fmt: skip
        for name, value in values.items():
            which = getattr(resource, name)
            soft, hard = value if type(value) is tuple else (value, value)
            now = resource.prlimit(self.pid, which)[1]
            if now != resource.RLIM_INFINITY:
                soft, hard = min(soft, now), min(hard, now)
            resource.prlimit(self.pid, which, (soft, hard))

    def ask(self, request: tuple[Any, ...]) -> Any:
        """Send ``request``; return the reply (a tuple whose first item is a str)."""
        if self.gone:
            raise _Gone
        try:
            wire.send(self.requests, request)
            reply = wire.receive(self.replies)
        except (BrokenPipeError, EOFError):
            self.gone = True
            raise _Gone from None
        except wire.WireError as exc:
            msg = f"the code's process sent bytes that are not plain data ({exc})"
            raise BoundaryError(msg) from None
        if type(reply) is not tuple or not reply or type(reply[0]) is not str:
            msg = "the code's process answered out of protocol"
            raise BoundaryError(msg)
        return reply

    def exited(self, seconds: float) -> bool:
        """Whether the child has ended (waiting up to ``seconds``); reaps it if so."""
        for _ in range(int(seconds / 0.005) + 1):
            pid, raw = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(raw)
                return True
            _sleep(0.005)
        return False

    def end(self) -> None:
        """Kill and reap the child (once)."""
        if self.status is None:
            try:  # noqa: SIM105 (no contextlib import)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def dump(self) -> bytes:
        os.set_blocking(self.dumps, False)
        try:
            return os.read(self.dumps, _DUMP_BYTES)
        except OSError:
            return b""


_EXCLUDED = (StopIteration, StopAsyncIteration)
_classes: dict[tuple[str, str], type[BaseException]] = {}


def _exception_class(name: str, base_name: str) -> type[BaseException]:
    """The class to raise for the code's exception ``name`` whose builtin base is ``base_name``."""
    key = (name, base_name)
    if key in _classes:
        return _classes[key]
    base: Any = getattr(builtins, base_name, None)
    if not (type(base) is type and issubclass(base, BaseException)) or issubclass(base, _EXCLUDED):
        base = CandidateError
    elif not issubclass(base, Exception):
        base = CandidateExit
    made = base if base.__name__ == name else type(name, (base,), {"__module__": "code"})
    _classes[key] = made
    return made


def _raise_error(error: Any) -> None:
    """Raise, here, the exception the child described (see `toolthink.tool._candidate`)."""
    if not (type(error) is tuple and len(error) == 5 and type(error[0]) is str
            and type(error[1]) is str and type(error[3]) is str):  # fmt: skip
        msg = "the code's process described an exception out of protocol"
        raise BoundaryError(msg)
    name, base_name, args, text, code_line = error
    name = name[:100] or "Exception"
    kind = _exception_class(name, base_name[:100])
    try:
        exc = kind(*args) if type(args) is tuple else kind(text)
        if str(exc) != text:
            exc = kind(text)
    except Exception:  # (a builtin whose constructor wants other arguments)
        kind = _exception_class(name, "Exception")
        exc = kind(text)
    exc.__dict__["_toolthink_code_line"] = code_line if type(code_line) is int else None
    raise exc


def _result(child: _Child, reply: Any, what: str) -> Any:
    """The value of a reply to a call or to ``next``; raises what the code raised."""
    kind = reply[0]
    if kind == "ok" and len(reply) == 2:
        return reply[1]
    if kind == "iter" and len(reply) == 3 and type(reply[1]) is int and type(reply[2]) is str:
        return _RemoteIterator(child, reply[1], reply[2][:100])
    if kind == "raise" and len(reply) == 2:
        _raise_error(reply[1])
    if kind == "bad" and len(reply) == 2 and type(reply[1]) is str:
        msg = f"{what} returned {reply[1][:200]}; only {_PLAIN} cross to the tests"
        raise BoundaryError(msg)
    msg = "the code's process answered out of protocol"
    raise BoundaryError(msg)


class _Remote:
    """A proxy for a callable of the code: calls it in the child with plain data."""

    def __init__(self, child: _Child, name: str) -> None:
        self.__name__ = self.__qualname__ = name
        self._child = child

    def __repr__(self) -> str:
        return f"<function {self.__name__} in the code's process>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            wire.encode((args, kwargs))
        except wire.WireError as exc:
            msg = f"the tests passed {exc} to {self.__name__}(); only {_PLAIN} cross to the code"
            raise BoundaryError(msg) from None
        reply = self._child.ask(("call", self.__name__, args, kwargs))
        return _result(self._child, reply, f"{self.__name__}()")


class _RemoteIterator:
    """An iterator of the code's (a generator, say) whose items are fetched one by one.

    Only its items cross, as plain data; it compares equal to nothing but itself,
    as the generator would.
    """

    def __init__(self, child: _Child, handle: int, type_name: str) -> None:
        self._child, self._handle, self._type_name = child, handle, type_name

    def __repr__(self) -> str:
        return f"<{self._type_name} object in the code's process>"

    def __iter__(self) -> _RemoteIterator:
        return self

    def __next__(self) -> Any:
        reply = self._child.ask(("next", self._handle))
        if reply == ("stop",):
            raise StopIteration
        return _result(self._child, reply, f"an item of a {self._type_name}")


class _Unavailable:
    """Stands for a top-level object of the code that cannot cross; any use fails."""

    def __init__(self, name: str, type_name: str) -> None:
        self._message = (f"the tests used {name}, a {type_name} object of the code, which cannot "
                         f"cross to the tests (only {_PLAIN} and calls do)")  # fmt: skip

    def _fail(self, *_args: object, **_kwargs: object) -> Any:
        raise BoundaryError(self._message)

    __call__ = __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = _fail
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __contains__ = _fail
    __hash__ = None  # type: ignore[assignment]


def _names_read(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if type(const) is type(code):
            names |= _names_read(const)
    return names


def _module(name: str, wanted: str) -> Any:
    top = wanted.partition(".")[0]
    if top not in sys.stdlib_module_names or top in _NOT_IMPORTED:
        return _Unavailable(name, "module " + wanted[:100])
    try:
        __import__(wanted)
        return sys.modules[wanted]
    except BaseException:
        return _Unavailable(name, "module " + wanted[:100])


def _namespace(child: _Child, table: Any, tests: CodeType) -> dict[str, Any]:
    """A fresh ``__main__`` for the tests, holding what the code's module defined."""
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = module.__dict__
    namespace["__builtins__"] = builtins
    if type(table) is not list:
        msg = "the code's process sent its names out of protocol"
        raise BoundaryError(msg)
    read = _names_read(tests)
    for entry in table:
        if not (type(entry) is tuple and len(entry) == 3 and type(entry[0]) is str
                and type(entry[1]) is str):  # fmt: skip
            msg = "the code's process sent its names out of protocol"
            raise BoundaryError(msg)
        name, kind, payload = entry
        if kind == "callable":
            namespace[name] = _Remote(child, name)
        elif kind == "value":
            namespace[name] = payload
        elif kind == "module" and type(payload) is str and name in read:
            namespace[name] = _module(name, payload)
        elif kind in ("module", "other"):
            namespace[name] = _Unavailable(name, str(payload)[:100])
    return namespace


def _own_limits() -> list[tuple[int, int]]:
    return [resource.getrlimit(getattr(resource, name)) for name in _LIMITS]


def _end_like(child: _Child) -> None:
    """The child died before the verdict: end this process the same way, with no verdict.

    Its fatal-error dump (where it was) goes to fd 3 first, as the harness's own would.
    """
    child.end()
    dump = child.dump()
    if dump:
        os.write(_VERDICT_FD, b"\n" + dump)
    status = child.status if child.status is not None else 3
    if status < 0:
        faulthandler.disable()
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status if 0 <= status < 256 else 3)


def _load(child: _Child, code: str) -> Any:
    """Send the code; record a syntax error or the code's own exception; return the names."""
    reply = child.ask(("load", code))
    if reply[0] == "loaded" and len(reply) == 2:
        return reply[1]
    if reply[0] == "syntax" and len(reply) == 6:
        _kind, name, message, line, column, text = reply
        _record(kind="syntax", type=str(name)[:100], message=str(message)[:_MESSAGE_CHARS],
                line=line if type(line) is int else None,
                column=column if type(column) is int else None, text=str(text)[:200])  # fmt: skip
        return None
    if reply[0] == "raise" and len(reply) == 2:
        try:
            _raise_error(reply[1])
        except BaseException as exc:  # (the code failed before the tests ran)
            _record(kind="failure", phase=1, stage="code", **_describe(exc))
        return None
    msg = "the code's process answered out of protocol"
    raise BoundaryError(msg)


def _run(job: dict[str, Any], child: _Child) -> None:
    """Phase 1 and the verdict, then the explanation of a failure."""
    tests = marshal.loads(job["tests"])
    secret: str = job.pop("secret")
    limits = _own_limits()
    ok = False
    failure: BaseException | None = None
    try:
        table = _load(child, job["code"])
        if table is not None:
            namespace = _namespace(child, table, tests)
            try:
                exec(tests, namespace)
                ok = True
            except _Gone:
                raise
            except BaseException as exc:  # (SystemExit and all count as failures)
                failure = exc
    except _Gone:
        pass
    except BoundaryError as exc:  # the code's process broke the protocol outside the tests
        failure = exc
    if child.gone:  # (even if the tests caught it): no pass with a vanished child
        ok = False
        if child.exited(0.2):
            _end_like(child)
        failure = BoundaryError("the code's process closed its channel to the tests")
    if ok and _own_limits() != limits:
        ok = False
        _record(kind="failure", phase=1, stage="tests", type="BoundaryError", code_line=None,
                message="the code changed the tests' resource limits", test_line=None)  # fmt: skip
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (no contextlib import)
            stream.flush()
        except BaseException:
            pass
    os.write(_VERDICT_FD, ("\nV " + secret + (" PASS\n" if ok else " FAIL\n")).encode())
    if failure is None:
        return
    _record(kind="failure", phase=1, stage="tests", **_describe(failure))
    if float(job["explain_seconds"]) > 0:
        _explain(job, child, int(job["max_failures"]), float(job["explain_seconds"]))


def _explain(job: dict[str, Any], child: _Child, limit: int, seconds: float) -> None:
    """Reload the code in the child and record each failing test of the isolated tests."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    count = [0]

    def record(exc: BaseException) -> None:
        count[0] += 1
        _record(kind="failure", phase=2, **_describe(exc))
        if count[0] >= limit:
            raise _Enough

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    complete = True
    try:
        child.ask(("quiet",))
        isolated = marshal.loads(job["isolated"])
        table = _load(child, job["code"])
        if table is None:
            return
        namespace = _namespace(child, table, isolated)
        namespace["__toolthink_record__"] = record
        exec(isolated, namespace)
    except (_Enough, _Stop, _Gone):
        complete = False
    except BaseException as exc:  # (a failure outside any assert ends the list)
        count[0] += 1
        _record(kind="failure", phase=2, **_describe(exc))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _record(kind="explained", count=count[0], complete=complete)


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
    """Start the child, take the job, run it, end the child."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child may signal this process
    hardened = _nondumpable()
    child = _Child(sys.argv[1], sys.argv[2])
    job = _read_job()
    if not hardened:
        child.end()
        _record(kind="harness", message="cannot make the tests' process non-dumpable (prctl)")
        os._exit(3)
    timeout = float(job["timeout"])
    child.limit(job["limits"], timeout)
    faulthandler.enable(file=_VERDICT_FD)
    try:  # noqa: SIM105 (where a timed-out run was: a nicety)
        faulthandler.dump_traceback_later(max(timeout - 0.2, timeout * 0.8), file=_VERDICT_FD)
    except RuntimeError:
        pass
    try:
        _run(job, child)
    finally:
        child.end()
    os._exit(0)


if __name__ == "__main__":
    main()
