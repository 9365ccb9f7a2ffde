"""The harness's guard: the audit hook (PEP 578) that alone holds the run's secret.

Part of the harness's program (`toolthink.tool.programs`), which runs the
candidate's code and its tests in one process (`toolthink.tool._harness`):
the runner installs the guard before any candidate code runs and asks it for
the verdict once, with ``sys.audit("toolthink.verdict", ok)``; only then does
the guard write ``V <secret> PASS``, ``EMPTY`` or ``FAIL`` to fd 3. Standard
library only.

What keeps the candidate from the secret (it runs in the same process):

- the secret never appears in argv, the environment, a file or an open fd;
- it lives only in the guard's closure; the guard function is referenced by the
  interpreter's audit-hook list, which Python code cannot read;
- no other audit hook ever exists: the guard refuses the ``sys.addaudithook``
  event (PEP 578; the candidate's call then adds nothing). A candidate's hook
  ran after the guard on the events the guard's own work raises (reading a
  ``tb_frame``, ``sys._getframe`` at the verdict), one frame below the guard's,
  whose locals hold the pass line: that forged a pass. The other ways to run
  code there are refused too: trace and profile functions (``sys.settrace``,
  ``sys.setprofile``, ``threading.settrace/setprofile``, cProfile's timer: all
  raise the refused events), finalizers and weakref callbacks (nothing is freed
  and no GC runs inside the guard), ``sys.unraisablehook`` (nothing unraisable
  happens there), signal handlers (below), and methods of event arguments
  (exact types checked first);
- the guard refuses the routes to other objects' internals and to its own frame:
  ``gc.get_objects/get_referrers/get_referents``, ``sys._current_frames``,
  ``sys._current_exceptions``, ``sys.settrace/setprofile``, opening a file named
  ``mem``, and ``tb_frame`` of a traceback entry that belongs to the guard. It
  refuses native code and hand-made bytecode, either of which reads memory at
  will: every ``ctypes`` operation, extension modules from outside the
  interpreter's ``lib-dynload`` (a compiler is on the image, and /tmp is
  writable), and, until the verdict, ``code.__new__`` and every
  ``marshal.load(s)`` event, whoever the caller (importlib's unmarshalling
  functions, called by the candidate or by a loader of its own, and
  ``_imp.get_frozen_object`` take any bytes). Opening any ``.pyc`` file fails
  meanwhile with a ``PermissionError``, so importlib compiles a module
  imported during the tests from its source (the stdlib modules the code and
  tests name are imported before the guard, from their ``.pyc``; frozen
  modules need no unmarshalling event). While it runs it disables the cyclic
  GC (no finalizer runs inside it);
- the candidate runs outside the main thread, where CPython refuses
  ``signal.signal``; Python signal handlers only ever run in the main thread,
  which runs no candidate code (woken early, it exits), and the only default
  handler (SIGINT) is set to ``SIG_IGN`` first. So no handler can interrupt the
  guard and look at its frame;
- the guard binds every builtin and global it uses when it is installed, and
  checks an event argument's exact type before looking at it, so no candidate
  code runs inside it; it forgets the secret after the verdict and in every
  forked child (``os.register_at_fork``);
- in the bubblewrap sandbox there is no /proc, and seccomp denies ptrace and
  process_vm_readv, so no other process can read this one's memory. In the
  fallback (as root) the interpreter runs with a real uid unlike its effective
  uid, so it is non-dumpable and ``/proc/<pid>/mem`` belongs to root: no path to
  it opens (a symlink to ``/proc/self/mem`` forged a pass while the guard only
  refused paths whose last part is ``mem``, a check it still makes). Not run as
  root, the fallback has no such protection.

- the verdict is accepted only from the runner's one ``sys.audit`` call: the
  guard checks the calling frame, its ``f_lasti`` and that the cyclic GC is
  off (the runner turns it off just before). A finalizer that is a C callable
  (``functools.partial(sys.audit, ...)``) otherwise calls the hook with the
  runner as its caller wherever the runner frees it.

The host is protected by the sandbox (`toolthink.tool.isolation`), not by this
file: audit hooks are no security boundary in general; here they guard only the
verdict, against code that has no native access (tests/tool/test_secret.py
and tests/tool/test_red_team.py list the attacks tried).

Residual risk, stated plainly: the secret and the ``ok`` flag live in the
process that runs the candidate, so any memory-safety bug of the interpreter
that pure Python can reach forges a pass (an arbitrary write flips ``ok``; an
arbitrary read finds the secret). Such bugs are found and fixed in CPython
every year, and the deployed interpreter (Debian's 3.11.2) lacks fixes made
since: gh-103987, mmap's use after free (fixed in 3.11.4), forged a pass until
``mmap`` was refused here. Refusing modules one by one closes the bugs we know
of, not the others. That is why this harness is no longer the default: with
``tests_process="separate"`` (`toolthink.tool.boundary`) the candidate's
module runs in an interpreter of its own (`toolthink.tool._candidate`) and the
tests in a process forked from the launcher (`toolthink.tool._tests_runner`),
which receives the candidate's results as plain data and alone holds the
secret, so corrupting the candidate's interpreter cannot reach the code that
decides. This harness still runs the tests that need the candidate's objects
(tests defining classes or making instances of the candidate's, about 1% of
the data: `toolthink.tool.boundary.choose_tests_process`), and every run of a
``tests_process="same"`` sandbox; a reward from it is trustworthy only as far
as the interpreter is.

The frame rules above are those of CPython 3.10 and 3.11, the only versions
the sandbox starts (`toolthink.tool.isolation`): from 3.12 a ``sys.monitoring``
callback can set the runner's ``f_lineno`` past the tests, and from 3.13
``frame.f_locals`` writes through to ``ok`` (PEP 667); both forged a pass.
"""


from __future__ import annotations

import _thread
import gc
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any

if TYPE_CHECKING or __name__.startswith("toolthink."):  # see toolthink.tool.programs
    from toolthink.tool._records import _VERDICT_FD

_VERDICT_EVENT = "toolthink.verdict"
_MARSHAL_EVENTS = frozenset(("marshal.loads", "marshal.load"))
_UNSAFE_MODULES = frozenset((
    # Interpreter modules that read or write memory without audit events:
    # _ctypes' union and pointer types alone can read the whole heap.
    "_ctypes", "ctypes", "_ctypes_test", "_testcapi", "_testinternalcapi", "_testbuffer",
    "_testmultiphase", "_testimportmultiple", "_testsinglephase", "_xxtestfuzz",
    "_xxsubinterpreters", "_xxinterpchannels", "_testclinic",
    # mmap: slice assignment whose __index__ closes the map writes through a
    # freed pointer (gh-103987, fixed in 3.11.4), an arbitrary read/write that
    # forged a pass on Debian's 3.11.2. Tests seldom need it.
    "mmap",
))
_BLOCKED = frozenset((
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "sys._current_frames",
    "sys._current_exceptions",
    "sys.settrace",
    "sys.setprofile",
))


def _traceback_type() -> Any:
    try:
        raise ValueError
    except ValueError as exc:
        return type(exc.__traceback__)


def _call_site(code: CodeType, name: str) -> range:
    """Byte offsets (``f_lasti``) the call through the local ``name`` in ``code`` can show.

    From the one ``LOAD_FAST name`` (excluded) to the first CALL after it
    (CALL_FUNCTION before 3.11). In between are only the loads of the call's
    arguments and, on 3.11, PRECALL: once specialized for a builtin it makes
    the call itself, and ``f_lasti`` stays there.

    Raises:
        RuntimeError: ``name`` is not loaded exactly once, or no call follows it.
    """
    import opcode  # noqa: PLC0415 (only here, once per run; under 1 ms)

    load = opcode.opmap["LOAD_FAST"]
    calls = {opcode.opmap[op] for op in ("CALL", "CALL_FUNCTION") if op in opcode.opmap}
    index = code.co_varnames.index(name)
    raw = code.co_code
    loads = [at for at in range(0, len(raw), 2) if raw[at] == load and raw[at + 1] == index]
    ends = [next((after for after in range(at + 2, len(raw), 2) if raw[after] in calls), -1)
            for at in loads]  # fmt: skip
    if len(loads) != 1 or ends[0] < 0:
        msg = f"the harness loads {name} {len(loads)} times; the verdict needs one call site"
        raise RuntimeError(msg)
    return range(loads[0] + 2, ends[0] + 1)


def _guard(secret: str, genuine: FrameType, call_site: range) -> None:  # noqa: PLR0915 (one closure on purpose)
    """Install the audit hook that holds ``secret`` and writes the verdict.

    Everything the hook uses is bound here, before any candidate code runs: the
    candidate can rebind builtins and this module's globals, and whatever the
    hook called through them would run inside the hook, next to the secret. For
    the same reason the hook looks at event arguments only after checking their
    exact type (a ``str`` subclass could run code in ``__eq__``).

    Args:
        secret: The run's secret (hex); kept only in the hook's closure.
        genuine: The only frame allowed to ask for the verdict (the runner's).
        call_site: The ``f_lasti`` values of ``genuine`` at its one verdict call.
            ``getframe(1) is genuine`` alone is not enough: a finalizer that is
            a C callable (``functools.partial(sys.audit, ...)``) runs with the
            runner as the calling frame wherever the runner frees the object
            or the cyclic GC collects it. The runner disables the GC just
            before the call, so nothing is freed at the call site itself (the
            argument tuple ``sys.audit`` builds could otherwise start a
            collection there); a PASS also needs the GC found disabled.
    """
    getframe, write, fstat, get_ident = sys._getframe, os.write, os.fstat, _thread.get_ident
    gc_disable, gc_enable, gc_isenabled = gc.disable, gc.enable, gc.isenabled
    type_of, length, subclass = type, len, issubclass
    error, text, raw = RuntimeError, str, bytes
    blocked, verdict_fd, verdict_event = _BLOCKED, _VERDICT_FD, _VERDICT_EVENT
    unsafe_modules, last_part = _UNSAFE_MODULES, str.rpartition
    denied = PermissionError  # an OSError: importlib then compiles the source instead
    ups, marshal_events = "/..", _MARSHAL_EVENTS
    major, minor = sys.version_info[:2]
    dynload = f"{sys.base_exec_prefix}/lib/python{major}.{minor}/lib-dynload/"
    traceback_type = _traceback_type()
    start = fstat(verdict_fd)
    channel = (start.st_dev, start.st_ino)
    pass_line: bytes | None = ("\nV " + secret + " PASS\n").encode()
    fail_line: bytes | None = ("\nV " + secret + " FAIL\n").encode()
    empty_line: bytes | None = ("\nV " + secret + " EMPTY\n").encode()
    add_hook = "sys.addaudithook"
    busy: set[int] = set()
    own_code: list[object] = []

    def forget() -> None:
        # Runs first in every forked child (os.fork, forkpty, a preexec_fn): a
        # child is its own main thread, may install signal handlers and so could
        # watch the hook's frame; it must not hold the secret.
        nonlocal pass_line, fail_line, empty_line
        pass_line = fail_line = empty_line = None

    def hook(event: str, args: tuple[Any, ...]) -> None:  # noqa: PLR0912, PLR0915 (one frame to hide)
        nonlocal pass_line, fail_line, empty_line
        if event == add_hook:
            # No other audit hook may ever exist: hooks run after this one on
            # every event, including those the guard's own work raises
            # (sys._getframe, tb_frame), where the caller's frame is the guard's.
            # An exception here stops the new hook being added (PEP 578);
            # CPython 3.10/3.11 then return None to the caller for any Exception.
            raise denied("toolthink sandbox: sys.addaudithook is not allowed during tests")
        ident = get_ident()
        if ident in busy:
            return  # an event raised by the hook's own work
        busy.add(ident)
        collecting = gc_isenabled()
        gc_disable()  # no finalizer or gc callback may run inside the hook
        try:
            if event in blocked or event.startswith("ctypes."):
                raise error(f"toolthink sandbox: {event} is not allowed during tests")
            if pass_line is not None and event == "code.__new__":
                # Hand-made bytecode reads memory at will (no bounds checks).
                raise error(f"toolthink sandbox: {event} is not allowed during tests")
            if pass_line is not None and event in marshal_events:
                # Whoever the caller: importlib's own unmarshalling functions take
                # any bytes (from a loader of the candidate's, a patched get_data),
                # and so does _imp.get_frozen_object. No .pyc is read meanwhile
                # (see "open"); the harness unmarshals its isolated tests after
                # the verdict.
                raise error(f"toolthink sandbox: {event} is not allowed during tests")
            if event == "import":
                name: Any = args[0] if length(args) else None
                # By its last part too: an extension's init function is named
                # after it, so "pkg.mmap" loads mmap's.
                if (pass_line is not None and type_of(name) is text
                        and last_part(name, ".")[2] in unsafe_modules):  # fmt: skip
                    raise error(f"toolthink sandbox: importing {name} is not allowed during tests")
                # A file name means an extension module (_imp.create_dynamic):
                # native code in this process. Only the interpreter's own.
                where: Any = args[1] if length(args) > 1 else None
                if type_of(where) is text and (not where.startswith(dynload) or ups in where):
                    raise error(f"toolthink sandbox: loading {where} is not allowed during tests")
            elif event == "object.__getattr__":
                if (
                    length(args) == 2
                    and type_of(args[1]) is text
                    and args[1] == "tb_frame"
                    and type_of(args[0]) is traceback_type
                    and args[0].tb_frame.f_code is own_code[0]
                ):
                    raise error("toolthink sandbox: the guard's frame is not readable")
            elif event == "open":
                path: Any = args[0] if length(args) else None
                if subclass(type_of(path), raw):  # copy the data: no subclass method runs
                    path = b"".join((path,)).decode("utf-8", "replace")
                elif subclass(type_of(path), text):
                    path = "".join((path,))
                if type_of(path) is text and path.rstrip("/").rsplit("/", 1)[-1] == "mem":
                    raise error("toolthink sandbox: reading process memory is not allowed")
                if pass_line is not None and type_of(path) is text and path.endswith(".pyc"):
                    raise denied(f"toolthink sandbox: loading bytecode from {path} is not "
                                 "allowed during tests")  # fmt: skip
            elif event == verdict_event:
                caller = getframe(1)
                genuine_call = (caller is genuine and caller.f_lasti in call_site
                                and length(args) == 1)  # fmt: skip
                ok = genuine_call and not collecting and args[0] is True
                empty = genuine_call and not collecting and args[0] is None
                now = fstat(verdict_fd)
                if (pass_line is None or fail_line is None or empty_line is None
                        or (now.st_dev, now.st_ino) != channel):  # fmt: skip
                    return  # given already, a forked child, or fd 3 replaced: no verdict
                write(verdict_fd, pass_line if ok else empty_line if empty else fail_line)
                if not genuine_call:
                    raise error("toolthink sandbox: only the harness gives the verdict")
                pass_line = fail_line = empty_line = None  # one verdict per run
        finally:
            if collecting:
                gc_enable()
            busy.discard(ident)

    own_code.append(hook.__code__)
    os.register_at_fork(after_in_child=forget)
    sys.addaudithook(hook)
