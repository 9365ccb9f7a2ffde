"""The candidate's process: runs the code under test and answers calls with plain data.

Started by the launcher, for the tests' process (`toolthink.tool._tests_runner`),
as ``python -I -S -B -u -c <boot> <modules...>``: the boot program
(`toolthink.tool._interpreters._CANDIDATE_BOOT`) reads the candidate's program
(`toolthink.tool.programs.CANDIDATE`: `toolthink.tool._code_module`, then this
file) and `toolthink.tool._wire`, compiled once by the launcher, from fd 62,
imports the standard-library ``modules`` the worker's last job named (so that
they load before the job arrives, off its critical path), and runs the program
as ``__main__``. Not imported by toolthink, standard library only. Its file
descriptors: 0 /dev/null, 1 and 2 the run's captured output, 3 where
``faulthandler`` writes the traceback of a fatal signal or of a timeout (the
harness's record channel, minus the verdict: what the code writes there only
ever reaches the report's location), 62 the requests and 63 the replies (out
of the way of code that writes to fd 3). Each
request and reply is one frame of `toolthink.tool._wire` (plain data only):

- ``("load", code, seconds)``: compile ``code`` as ``<code>`` (so line numbers
  are the editor's) and run it as a fresh ``__main__`` module; dump the
  traceback to fd 3 after ``seconds`` (where a timed-out run was). Reply
  ``("syntax", type, message, line, column, text)``, ``("raise", error)`` or
  ``("loaded", table)``, where ``table`` lists each top-level name of the module
  as ``(name, kind, payload)``: ``"callable"`` (the tests get a proxy that calls
  it here), ``"value"`` with the value itself when it is plain data,
  ``"module"`` with the module's name, or ``"other"`` with the type's name.
- ``("call", name, args, kwargs)``: call the module's current binding of
  ``name``. Reply ``("ok", value)``; ``("raise", error)``; or ``("bad", what)``
  when the value cannot cross (`toolthink.tool._wire`), naming what.
  A value that is an iterator (a generator, ``map``, the code's own) stays
  here: the reply is ``("iter", handle, type name)`` and the tests get an
  iterator whose items are fetched one by one with ``("next", handle)``,
  answered ``("ok", item)``, ``("iter", ...)``, ``("stop",)`` or ``("raise", error)``
  (QuixBugs' ``flatten`` and ``kheapsort`` are generators the tests ``list``).
- ``("limits", [[resource, soft, hard], ...])``: set the run's resource
  limits on this process; the first request, before any code runs. Reply
  ``("ok", None)``.
- ``("quiet",)``: send further output to /dev/null (the tests' second pass,
  which lists every failing test, must not repeat the output). Reply ``("ok", None)``.

``error`` is ``(type name, name of its nearest builtin base class, args or None,
message, line of the code)``: the tests' process re-raises an exception of that
builtin class, so ``except ValueError`` in the tests still works.

Nothing here is trusted: the candidate's code may replace any function of this
file, answer anything or nothing. What it cannot do is reach the tests'
process (see `toolthink.tool._tests_runner`), which decides the verdict.
"""

from __future__ import annotations

import builtins
import faulthandler
import os
import resource
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._code_module import _COMPILE_ERRORS, _compile_failure, _fresh_module, _text

_REQUESTS_FD, _REPLIES_FD, _DUMP_FD = 62, 63, 3
_MAX_NAMES = 10_000
_MAX_VALUE_BYTES = 4 << 20  # one module-level constant copied to the tests, bytes
_MAX_ITERATORS = 10_000


if TYPE_CHECKING or __name__.startswith("toolthink."):  # imported: by tests and mypy
    from toolthink.tool import _wire as wire
else:  # run: the wire module, which the launcher's boot program set up
    wire = sys.modules["_toolthink_wire"]


def _code_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<code>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _builtin_base(kind: type) -> str:
    """The name of the first builtin exception class in ``kind``'s MRO."""
    for base in kind.__mro__:
        name = base.__name__
        if getattr(builtins, name, None) is base:
            return str(name)
    return "Exception"


def _error(exc: BaseException) -> tuple[Any, ...]:
    try:
        name, base = str(type(exc).__name__)[:100], _builtin_base(type(exc))
    except BaseException:
        name, base = "Exception", "Exception"
    args: Any = None
    try:
        if type(exc.args) is tuple:
            wire.encode(exc.args)
            args = exc.args
    except BaseException:  # (not plain data: the message alone crosses)
        args = None
    return name, base, args, _text(exc), _code_line(exc.__traceback__)


def _entry(name: str, value: object) -> tuple[str, str, Any]:
    if isinstance(value, type(sys)):
        module_name = getattr(value, "__name__", None)
        if type(module_name) is str:
            return name, "module", module_name
        return name, "other", "module"
    if callable(value):
        return name, "callable", None
    try:
        if len(wire.encode(value)) <= _MAX_VALUE_BYTES:
            return name, "value", value
    except BaseException:  # (a WireError; or anything the code's objects raise)
        pass
    return name, "other", str(type(value).__name__)[:100]


def _out(value: object) -> tuple[Any, ...]:
    """The reply for a value: ``("ok", value)``, or ``("iter", ...)`` for an iterator."""
    kind = type(value)
    iterators: dict[int, Any] = state["iterators"]
    if (hasattr(kind, "__next__") and hasattr(kind, "__iter__") and not isinstance(value, str)
            and len(iterators) < _MAX_ITERATORS):  # fmt: skip
        handle = len(iterators)
        iterators[handle] = value
        return "iter", handle, str(kind.__name__)[:100]
    return "ok", value


def _next(handle: int) -> tuple[Any, ...]:
    iterator = state["iterators"].get(handle)
    if iterator is None:
        return "raise", ("RuntimeError", "RuntimeError", None, "no such iterator", None)
    try:
        item = next(iterator)
    except StopIteration:
        return ("stop",)
    except BaseException as exc:
        return "raise", _error(exc)
    return _out(item)


def _load(code_text: str, seconds: float) -> tuple[Any, ...]:
    if seconds > 0:
        try:  # noqa: SIM105 (the watchdog thread may be refused: a nicety)
            faulthandler.dump_traceback_later(seconds, file=_DUMP_FD)
        except RuntimeError:
            pass
    namespace = _fresh_module()
    state["namespace"] = namespace
    state["iterators"] = {}
    try:
        code = compile(code_text, "<code>", "exec", dont_inherit=True)
    except _COMPILE_ERRORS as exc:
        failure = _compile_failure(exc)
        return ("syntax", failure["type"], failure["message"], failure["line"],
                failure["column"], failure["text"])  # fmt: skip
    try:
        exec(code, namespace)
    except BaseException as exc:  # (SystemExit and all: the tests report them)
        return "raise", _error(exc)
    names = [name for name in list(namespace)[:_MAX_NAMES]
             if type(name) is str and not (name[:2] == "__" == name[-2:])]  # fmt: skip
    return "loaded", [_entry(name, namespace[name]) for name in names]


def _call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    namespace = state["namespace"]
    if name not in namespace:
        return "raise", ("NameError", "NameError", None, f"name {name!r} is not defined", None)
    try:
        value = namespace[name](*args, **kwargs)
    except BaseException as exc:
        return "raise", _error(exc)
    return _out(value)


def _limits(rlimits: Any) -> tuple[Any, ...]:
    """Set ``(resource, soft, hard)`` limits on this process (asked before any code runs)."""
    for which, soft, hard in rlimits:
        resource.setrlimit(which, (soft, hard))
    return "ok", None


def _quiet() -> tuple[Any, ...]:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    return "ok", None


state: dict[str, Any] = {"namespace": {}, "iterators": {}}


def _answer(request: Any) -> tuple[Any, ...]:
    kind = request[0] if type(request) is tuple and request else None
    if kind == "load" and len(request) == 3:
        return _load(request[1], request[2])
    if kind == "call" and len(request) == 4:
        return _call(request[1], request[2], request[3])
    if kind == "next" and len(request) == 2:
        return _next(request[1])
    if kind == "limits" and len(request) == 2:
        return _limits(request[1])
    if kind == "quiet":
        return _quiet()
    return "raise", ("RuntimeError", "RuntimeError", None, f"unknown request {kind!r}", None)


def main() -> None:
    """Answer requests until the tests' process closes the channel."""
    encode, send, receive, error = wire.encode, wire.send_bytes, wire.receive, wire.WireError
    faulthandler.enable(file=_DUMP_FD)
    while True:
        try:
            request = receive(_REQUESTS_FD)
        except EOFError:
            os._exit(0)
        try:
            frame = encode(_answer(request))
        except error as exc:  # a return value that cannot cross
            frame = encode(("bad", str(exc)))
        except BaseException as exc:  # (RecursionError and the like while walking it)
            frame = encode(("bad", f"a value that could not be read ({type(exc).__name__})"))
        send(_REPLIES_FD, frame)
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105 (the code may have replaced the stream)
                stream.flush()
            except BaseException:
                pass


if __name__ == "__main__":
    main()
