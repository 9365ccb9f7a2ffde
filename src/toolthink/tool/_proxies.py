"""What the tests' process holds of the candidate: proxies, copies, rebuilt exceptions.

Part of the separate test process (`toolthink.tool._tests_runner`, whose
launcher execs this file with ``wire`` (`toolthink.tool._wire`) in its
globals). The tests' namespace gets, for each top-level name of the
candidate's module (`toolthink.tool._candidate`): a `Remote` for a callable,
which sends the call's arguments over the `Channel` and returns the answer;
the value itself for plain data (a copy made once, after the module ran); the
standard-library module of that name for a module the tests use; else an
`Unavailable` that fails when used. A returned iterator becomes a
`RemoteIterator`. Nothing here runs code of the candidate's: every value that
arrives is plain data decoded by `toolthink.tool._wire`.
"""

from __future__ import annotations

import builtins
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

    from toolthink.tool import _wire as wire

_NOT_IMPORTED = frozenset(("__main__", "antigravity", "this", "idlelib", "tkinter", "turtle",
                           "turtledemo", "webbrowser"))  # fmt: skip
_PLAIN = "None, bool, int, float, complex, str, bytes and lists, tuples, dicts, sets of them"


class BoundaryError(BaseException):
    """A value that cannot cross, or a child that broke the protocol.

    A ``BaseException``: ``except Exception`` in the tests does not swallow it.
    """


class CandidateError(Exception):
    """Raised for the code's exception whose builtin base cannot be raised here as is."""


class CandidateExit(BaseException):
    """Raised for the code's SystemExit, KeyboardInterrupt or GeneratorExit."""


class Gone(BaseException):
    """The child closed its channel (it died, or closed it)."""


class Channel:
    """The tests' end of the candidate's channel: requests out, replies in."""

    def __init__(self, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.gone = False

    def ask(self, request: tuple[Any, ...]) -> Any:
        """Send ``request``; return the reply (a tuple whose first item is a str).

        Raises:
            Gone: The candidate's process closed the channel (it ended).
            BoundaryError: The reply is not plain data of the protocol.
        """
        if self.gone:
            raise Gone
        try:
            wire.send(self.requests, request)
            reply = wire.receive(self.replies)
        except (BrokenPipeError, EOFError):
            self.gone = True
            raise Gone from None
        except wire.WireError as exc:
            msg = f"the code's process sent bytes that are not plain data ({exc})"
            raise BoundaryError(msg) from None
        if type(reply) is not tuple or not reply or type(reply[0]) is not str:
            msg = "the code's process answered out of protocol"
            raise BoundaryError(msg)
        return reply


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


def raise_error(error: Any) -> None:
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


def _result(child: Channel, reply: Any, what: str) -> Any:
    """The value of a reply to a call or to ``next``; raises what the code raised."""
    kind = reply[0]
    if kind == "ok" and len(reply) == 2:
        return reply[1]
    if kind == "iter" and len(reply) == 3 and type(reply[1]) is int and type(reply[2]) is str:
        return RemoteIterator(child, reply[1], reply[2][:100])
    if kind == "raise" and len(reply) == 2:
        raise_error(reply[1])
    if kind == "bad" and len(reply) == 2 and type(reply[1]) is str:
        msg = f"{what} returned {reply[1][:200]}; only {_PLAIN} cross to the tests"
        raise BoundaryError(msg)
    msg = "the code's process answered out of protocol"
    raise BoundaryError(msg)


class Remote:
    """A proxy for a callable of the code: calls it in the child with plain data."""

    def __init__(self, child: Channel, name: str) -> None:
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


class RemoteIterator:
    """An iterator of the code's (a generator, say) whose items are fetched one by one.

    Only its items cross, as plain data; it compares equal to nothing but itself,
    as the generator would.
    """

    def __init__(self, child: Channel, handle: int, type_name: str) -> None:
        self._child, self._handle, self._type_name = child, handle, type_name

    def __repr__(self) -> str:
        return f"<{self._type_name} object in the code's process>"

    def __iter__(self) -> RemoteIterator:
        return self

    def __next__(self) -> Any:
        reply = self._child.ask(("next", self._handle))
        if reply == ("stop",):
            raise StopIteration
        return _result(self._child, reply, f"an item of a {self._type_name}")


class Unavailable:
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
        return Unavailable(name, "module " + wanted[:100])
    try:
        __import__(wanted)
        return sys.modules[wanted]
    except BaseException:
        return Unavailable(name, "module " + wanted[:100])


def builtins_kept(tests: str) -> frozenset[str]:
    """The builtin names ``tests`` use as builtins (``abs(...)``, ``key=len``).

    That is every builtin name they read, but for a name whose every use is an
    argument of a call to a function the tests define: ``check(sum)`` hands the
    candidate's ``sum`` (MBPP/126) to the HumanEval-style entry point.
    """
    import ast  # noqa: PLC0415 (loaded already: the launcher compiles the tests with it)

    tree = ast.parse(tests)
    own = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    handed = {id(arg) for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in own for arg in node.args}  # fmt: skip
    return frozenset(node.id for node in ast.walk(tree)
                     if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                     and hasattr(builtins, node.id) and id(node) not in handed)  # fmt: skip


def namespace(child: Channel, table: Any, tests: CodeType,
              keep: frozenset[str] = frozenset()) -> dict[str, Any]:  # fmt: skip
    """A fresh ``__main__`` for the tests, holding what the code's module defined.

    Names in ``keep`` (`builtins_kept`) stay the builtins: a candidate's
    ``abs`` or ``sorted`` must not answer for the tests' own
    ``abs(result - expected) < 1e-6`` (with the tests in the candidate's module
    it does, and forges a pass). Dunder names never come from the candidate.
    """
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    names: dict[str, Any] = module.__dict__
    names["__builtins__"] = builtins
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
        if name in keep or name[:2] == "__" == name[-2:]:
            continue
        if kind == "callable":
            names[name] = Remote(child, name)
        elif kind == "value":
            names[name] = payload
        elif kind == "module" and type(payload) is str and name in read:
            names[name] = _module(name, payload)
        elif kind in ("module", "other"):
            names[name] = Unavailable(name, str(payload)[:100])
    return names


