"""Attacks on the verdict: find the run's secret, or fake the line that carries it.

Each candidate below searches for 32-hex-digit strings wherever it can reach,
writes ``V <each> PASS`` to the verdict channel (fd 3) and exits 0 before the
tests run. A run must still fail: the secret is only in the guard's closure
(`toolthink.tool._harness`). These were checked to forge a pass when the
protection they target is removed (for instance, without the guard's
``os.register_at_fork`` the fork attack passes).
"""

from __future__ import annotations

import textwrap

import pytest

from toolthink.tool import SandboxPool, TestOutcome

TESTS = "assert False, 'the tests must never pass'\n"

SCAN = textwrap.dedent("""
    import os, re, sys, types
    HEX = re.compile(r"[0-9a-f]{32}")
    found, seen = set(), set()

    def scan(obj, depth=0):
        if depth > 7 or id(obj) in seen:
            return
        seen.add(id(obj))
        items = []
        try:
            if isinstance(obj, (str, bytes, bytearray)):
                text = obj if isinstance(obj, str) else bytes(obj).decode("latin-1")
                found.update(HEX.findall(text))
                return
            if isinstance(obj, dict):
                items = list(obj.keys()) + list(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                items = list(obj)
            elif isinstance(obj, types.FrameType):
                items = [obj.f_locals, obj.f_globals, obj.f_back]
            elif isinstance(obj, types.FunctionType):
                for cell in obj.__closure__ or ():
                    try:
                        items.append(cell.cell_contents)
                    except ValueError:
                        pass
                items += [obj.__defaults__, obj.__kwdefaults__, obj.__globals__]
            elif isinstance(obj, types.ModuleType) or hasattr(obj, "__dict__"):
                items = [vars(obj)]
            elif isinstance(obj, BaseException):
                items = [obj.args, obj.__traceback__]
        except Exception:
            return
        for item in items:
            scan(item, depth + 1)

    def forge():
        for secret in found:
            os.write(3, ("\\nV " + secret + " PASS\\n").encode())
        os._exit(0)
""")

ATTACKS = {
    "environment, argv, stdin and open descriptors": """
        scan(dict(os.environ))
        scan([sys.argv, getattr(sys, "orig_argv", [])])
        for path in ("/proc/self/environ", "/proc/self/cmdline", "/proc/self/mem"):
            try:
                scan(open(path, "rb").read(1 << 20))
            except (OSError, RuntimeError):
                pass
        for fd in range(64):
            try:
                os.set_blocking(fd, False)
                scan(os.read(fd, 1 << 16))
            except OSError:
                pass
        forge()
    """,
    "every frame, global and closure within reach": """
        scan(sys._getframe())
        scan(sys.modules)
        import threading
        scan([vars(t) for t in threading.enumerate()])
        forge()
    """,
    "the garbage collector": """
        import gc
        for walk in (gc.get_objects, lambda: gc.get_referrers(sys), lambda: gc.get_referents(sys)):
            try:
                scan(walk())
            except RuntimeError:
                pass
        forge()
    """,
    "tracebacks of the guard's own refusals": """
        import gc
        try:
            gc.get_objects()
        except RuntimeError as exc:
            tb = exc.__traceback__
            while tb is not None:
                try:
                    scan(tb.tb_frame)
                except RuntimeError:
                    pass
                tb = tb.tb_next
        forge()
    """,
    "asking the guard for the verdict": """
        try:
            sys.audit("toolthink.verdict", True)
        except RuntimeError:
            pass
        os._exit(0)
    """,
    "trace and profile hooks": """
        def tracer(frame, event, arg):
            scan(frame)
            return tracer
        for install in (sys.settrace, sys.setprofile):
            try:
                install(tracer)
            except RuntimeError:
                pass
        import threading
        threading.settrace(tracer)
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        forge()
    """,
    "ctypes": """
        try:
            import ctypes
            scan(ctypes.string_at(id(sys), 1 << 16))
        except (ImportError, RuntimeError, OSError):
            pass
        forge()
    """,
    "a signal handler watching the guard": """
        import signal
        def handler(signum, frame):
            scan(frame)
        try:
            signal.signal(signal.SIGALRM, handler)
        except ValueError:
            pass
        forge()
    """,
    "a forked child with a signal handler watching the guard": """
        import signal, time
        def handler(signum, frame):
            for value in frame.f_locals.values():
                if isinstance(value, bytes):
                    found.update(HEX.findall(value.decode("latin-1")))
        reader, writer = os.pipe()
        if os.fork() == 0:
            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
            until = time.monotonic() + 1.0
            while not found and time.monotonic() < until:
                compile("1", "x", "eval")
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            os.write(writer, " ".join(found).encode() + b" .")
            os._exit(0)
        os.close(writer)
        found.update(os.read(reader, 1 << 20).decode().split()[:-1])
        os.wait()
        forge()
    """,
    "stealing the verdict line by replacing fd 3": """
        if os.path.exists("stolen"):  # the run's second pass over the code
            os.set_blocking(51, False)
            try:
                scan(os.read(51, 1 << 16))
            except OSError:
                pass
            for secret in found:
                os.write(50, ("\\nV " + secret + " PASS\\n").encode())
            os._exit(0)
        open("stolen", "w").close()
        os.dup2(3, 50)
        reader, writer = os.pipe()
        os.dup2(reader, 51)
        os.dup2(writer, 3)
    """,
    "replacing the builtins the guard uses": """
        import builtins
        real_len = builtins.len
        def spy(*args, **kwargs):
            frame = sys._getframe(1)
            try:
                scan(dict(frame.f_locals))
            except Exception:
                pass
            return real_len(*args, **kwargs)
        builtins.len = spy
        try:
            raise ValueError
        except ValueError as exc:
            exc.__traceback__.tb_frame  # an audited access the guard inspects
        builtins.len = real_len
        forge()
    """,
    "rewriting the harness's globals": """
        harness = sys._getframe(1).f_globals
        harness["_BLOCKED"] = frozenset()
        import gc
        try:
            scan(gc.get_objects())
        except RuntimeError:
            pass
        forge()
    """,
    "a string whose __eq__ runs inside the guard": """
        class Name(str):
            def __eq__(self, other):
                try:
                    scan(dict(sys._getframe(1).f_locals))
                except Exception:
                    pass
                return False
            __hash__ = str.__hash__
        try:
            raise ValueError
        except ValueError as exc:
            sys.audit("object.__getattr__", exc.__traceback__, Name("tb_frame"))
        sys.audit("open", Name("/tmp/x"), "r", 0)
        forge()
    """,
    "waking the main thread early to run the code there": """
        import signal
        if os.path.exists("woken"):
            # The second pass over the code, run by the main thread, where signal
            # handlers work.
            def handler(signum, frame):
                for value in frame.f_locals.values():
                    if isinstance(value, bytes):
                        found.update(HEX.findall(value.decode("latin-1")))
            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
            for _ in range(20000):
                compile("1", "x", "eval")
                if found:
                    break
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            forge()
        open("woken", "w").close()
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, list):
                    value.append(("tests", AssertionError("fake")))
                if type(value).__name__ == "lock" and value.locked():
                    value.release()
                if callable(value) and getattr(value, "__closure__", None):
                    for cell in value.__closure__:
                        try:
                            inner = cell.cell_contents
                        except ValueError:
                            continue
                        if isinstance(inner, list):
                            inner.append(("tests", AssertionError("fake")))
                        if type(inner).__name__ == "lock" and inner.locked():
                            inner.release()
            frame = frame.f_back
        import time
        time.sleep(15)
    """,
    "another process reading the harness's memory": """
        import subprocess
        probe = (
            "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
            "print(libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())"
        )
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        print(result.stdout, result.stderr)
        forge()
    """,
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_cannot_forge_a_pass(fresh_pool: SandboxPool, name: str) -> None:
    code = SCAN + textwrap.dedent(ATTACKS[name])
    report = fresh_pool.run(code, TESTS, timeout=20)
    assert not report.passed, report
    assert report.outcome is not TestOutcome.PASSED


def test_refusals_name_what_was_refused(fresh_pool: SandboxPool) -> None:
    code = "import gc\ngc.get_objects()\n"
    report = fresh_pool.run(code, TESTS, timeout=10)
    assert "gc.get_objects is not allowed during tests" in report.feedback


NATIVE = {
    "an extension module written to /tmp": """
        import glob, importlib.util, shutil
        source = glob.glob("/usr/lib/python3*/lib-dynload/_json*.so")[0]
        shutil.copy(source, "/tmp/_json_copy.so")
        spec = importlib.util.spec_from_file_location("_json", "/tmp/_json_copy.so")
        module = importlib.util.module_from_spec(spec)
    """,
    "an extension module reached through '..'": """
        import glob, importlib.util, os, shutil
        source = glob.glob("/usr/lib/python3*/lib-dynload/_json*.so")[0]
        shutil.copy(source, "/tmp/_json_copy.so")
        sneaky = os.path.dirname(source) + "/../../../../tmp/_json_copy.so"
        spec = importlib.util.spec_from_file_location("_json", sneaky)
        module = importlib.util.module_from_spec(spec)
    """,
    "crafted bytecode": """
        code = (lambda: 0).__code__
        code.replace(co_code=code.co_code)
    """,
    "unmarshalled code": """
        import marshal
        marshal.loads(marshal.dumps((lambda: 0).__code__))
    """,
    "a hand-made .pyc file": """
        import importlib.util, marshal, sys
        code = marshal.dumps(compile("x = 1", "m", "exec"))
        data = importlib.util.MAGIC_NUMBER + bytes(12) + code
        with open("/tmp/handmade.pyc", "wb") as out:
            out.write(data)
        sys.path.insert(0, "/tmp")
        import handmade
    """,
}


# Crafted marshal data through importlib's own unmarshalling (the route that
# was left open while the guard let importlib's callers unmarshal): marshal
# builds a code object from whatever bytes it is given, bytecode unchecked.
NATIVE["importlib's _compile_bytecode called directly"] = """
    import _frozen_importlib_external, marshal
    code = _frozen_importlib_external._compile_bytecode(
        marshal.dumps(compile("x = 1", "m", "exec")))
"""
PYC_HEADER = """
    import importlib.util, marshal
    # An unchecked hash-based .pyc (flags 0b01): importlib compares nothing
    # with the source, it unmarshals what follows the header.
    CRAFTED = (importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + bytes(8)
               + marshal.dumps(compile("x = 1", "m", "exec")))
"""
NATIVE["a SourceLoader whose get_data returns crafted .pyc bytes"] = PYC_HEADER + """
    import importlib.abc
    class Loader(importlib.abc.SourceLoader):
        def get_filename(self, fullname):
            return "/tmp/crafted.py"
        def path_stats(self, path):
            return {"mtime": 0, "size": 0}
        def get_data(self, path):
            return CRAFTED
    spec = importlib.util.spec_from_loader("crafted", Loader())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
"""
NATIVE["SourceFileLoader.get_data monkeypatched"] = PYC_HEADER + """
    import importlib.machinery, sys
    real_get_data = importlib.machinery.SourceFileLoader.get_data
    def get_data(self, path):
        return CRAFTED if path.endswith(".pyc") else real_get_data(self, path)
    importlib.machinery.SourceFileLoader.get_data = get_data
    with open("/tmp/victim.py", "w") as out:
        out.write("x = 2\\n")
    sys.path.insert(0, "/tmp")
    import victim
"""
# Found by a review: _ctypes (in lib-dynload, so not an outside extension) reads
# the heap through a union of a pointer and an int, with no audit event; a forked
# child scanned the arenas for the verdict line and the parent forged it.
NATIVE["_ctypes union reads the heap"] = r'''
import _ctypes, os, re, sys
class c_void_p(_ctypes._SimpleCData): _type_ = 'P'
class c_char(_ctypes._SimpleCData): _type_ = 'c'
class PC(_ctypes._Pointer): _type_ = c_char
class U(_ctypes.Union): _fields_ = [('a', c_void_p), ('p', PC)]
u = U()
def read(addr, n):
    u.a = addr
    return u.p[0:n]
pat = re.compile(rb"\nV ([0-9a-f]{16,128}) PASS\n")
fr = sys._getframe()
while fr.f_back is not None: fr = fr.f_back
anchor = id(fr.f_globals)
ARENA = 1 << 20
base = anchor & ~(ARENA - 1)
found = None
order = [0]
for k in range(1, 48): order += [k, -k]
for k in order:
    start = base + k * ARENA
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            data = read(start, ARENA)
            m = pat.search(data)
            if m: os.write(w, m.group(1))
        finally:
            os._exit(0)
    os.close(w)
    got = b""
    while True:
        c = os.read(r, 4096)
        if not c: break
        got += c
    os.close(r); os.waitpid(pid, 0)
    if got:
        found = got; break
print("found", found, file=sys.stderr)
if found:
    os.write(3, b"\nV " + found + b" PASS\n")
    sys.stdout.flush()
    os._exit(0)
def f(x): return 0
'''


@pytest.mark.parametrize("name", NATIVE)
def test_no_native_code_or_crafted_bytecode_before_the_verdict(
    fresh_pool: SandboxPool, name: str
) -> None:
    # Native code or hand-made bytecode in the harness's process could read the
    # secret from memory; the guard refuses them until the verdict is written.
    report = fresh_pool.run(textwrap.dedent(NATIVE[name]), "assert True\n", timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert "not allowed during tests" in report.feedback


def test_stdlib_and_own_modules_still_import(fresh_pool: SandboxPool) -> None:
    code = textwrap.dedent("""
        import array, decimal, fractions, json, math, statistics, sys
        value = math.sqrt(array.array("d", [4.0])[0]) + float(decimal.Decimal("0.5"))
        with open("/tmp/helper.py", "w") as out:
            out.write("def twice(x):\\n    return 2 * x\\n")
        sys.path.insert(0, "/tmp")
        import helper
    """)
    report = fresh_pool.run(code, "assert value == 2.5\nassert helper.twice(2) == 4\n", timeout=10)
    assert report.passed, report.feedback


FROZEN_FROM_DATA = textwrap.dedent("""
    import _imp, marshal
    data = marshal.dumps(compile("x = 1", "m", "exec"))
    try:
        _imp.get_frozen_object("x", data)
    except SystemError as exc:
        refusal = repr(exc.__context__)
        raise
""")


def test_frozen_code_from_given_data_is_refused(fresh_pool: SandboxPool) -> None:
    # _imp.get_frozen_object(name, data) unmarshals the data it is given. CPython
    # reports the guard's refusal as a SystemError whose context is the refusal.
    report = fresh_pool.run(FROZEN_FROM_DATA, "assert True\n", timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert "SystemError" in report.feedback
    caught = FROZEN_FROM_DATA.replace("    raise\n", "")
    tests = "assert 'marshal.loads is not allowed during tests' in refusal, refusal\n"
    report = fresh_pool.run(caught, tests, timeout=10)
    assert report.passed, report.feedback


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        ("import re\n", "assert re.fullmatch(r'a+', 'aa')\n"),
        ("import heapq\n", "assert heapq.nsmallest(1, [3, 1, 2]) == [1]\n"),
        ("from collections import Counter\n", "assert Counter('aab')['a'] == 2\n"),
        ("import math\n", "assert math.isqrt(17) == 4\n"),
        # Not named by any import statement, so not imported before the guard:
        # compiled from its source during the tests (no .pyc is read then).
        (
            "import importlib, sys\n",
            "assert 'fractions' not in sys.modules\n"
            "fractions = importlib.import_module('fractions')\n"
            "assert fractions.Fraction(1, 3) * 3 == 1\n",
        ),
    ],
)
def test_stdlib_imports_pass_without_pyc_under_the_guard(
    fresh_pool: SandboxPool, code: str, tests: str
) -> None:
    report = fresh_pool.run(code, tests, timeout=10)
    assert report.passed, report.feedback


def test_seccomp_denies_ptrace_in_any_interpreter(fresh_pool: SandboxPool) -> None:
    # A fresh interpreter started by the candidate has no guard; seccomp still says no.
    code = textwrap.dedent("""
        import subprocess, sys
        probe = (
            "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
            "r = libc.ptrace(16, os.getppid(), 0, 0); print(r, ctypes.get_errno())"
        )
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    """)
    tests = "assert result.stdout.split() == ['-1', '1'], result.stdout + result.stderr\n"
    report = fresh_pool.run(code, tests, timeout=20)
    assert report.passed, report.feedback


# Found by a review on Debian's 3.11.2: a finalizer that is a C callable runs
# sys.audit with the runner as the calling frame. Each forged a pass while the
# guard checked only `getframe(1) is genuine`; it now also checks the runner's
# f_lasti, and the runner turns the cyclic GC off just before its verdict call.
FINALIZER = """
import functools, sys
class Forge:
    __del__ = functools.partial(sys.audit, "toolthink.verdict", True)
"""
FINALIZERS = {
    # Freed when exec() of the code returns, inside the runner's frame.
    "the code frame's f_trace": FINALIZER + "sys._getframe().f_trace = Forge()\n",
    # Collected by a GC that some allocation of the runner's starts during the tests.
    "a garbage cycle and gc.set_threshold(1)": FINALIZER + textwrap.dedent("""
        import gc
        gc.collect()
        gc.set_threshold(1)
        cycle = [Forge()]
        cycle.append(cycle)
        del cycle
    """),
}


@pytest.mark.parametrize("name", FINALIZERS)
def test_a_finalizer_cannot_give_the_verdict(fresh_pool: SandboxPool, name: str) -> None:
    report = fresh_pool.run(FINALIZERS[name], TESTS, timeout=10)
    assert not report.passed, report
    assert report.outcome is not TestOutcome.PASSED


# Found by a review: gh-103987 (fixed in 3.11.4), mmap slice assignment with an
# __index__ that closes the map, wrote True into the runner's `ok` on 3.11.2.
MMAP_UAF = r'''
import mmap, struct, sys

def poke(addr, data):
    m = mmap.mmap(-1, 16 << 20)
    class Start:
        def __index__(self):
            m.close()
            return addr
    m[Start():addr + len(data)] = data

runner = sys._getframe(1)
if runner.f_code.co_name == "_runner":
    poke(id(-5), struct.pack("<qQqqQQq", 1 << 40, id(bytearray), 1 << 62, (1 << 62) + 1, 0, 0, 1))
    mem = int("-5")
    rd = lambda a: int.from_bytes(mem[a:a + 8], "little")
    iframe = rd(id(runner) + 24)
    names = runner.f_code.co_varnames
    slot = iframe + 72 + 8 * names.index("ok")
    mem[slot:slot + 8] = id(True).to_bytes(8, "little")
'''


@pytest.mark.parametrize(
    "code",
    [
        MMAP_UAF,
        # An extension's init function is named after the last part of its name.
        "import glob, importlib.util\n"
        "path = glob.glob(f'{sys.base_prefix}/lib/python3*/lib-dynload/mmap*.so')[0]\n"
        "spec = importlib.util.spec_from_file_location('pkg.mmap', path)\n"
        "importlib.util.module_from_spec(spec)\n",
    ],
    ids=["use after free", "under another package"],
)
def test_mmap_is_not_importable_during_tests(fresh_pool: SandboxPool, code: str) -> None:
    report = fresh_pool.run("import sys\n" + code, TESTS, timeout=10)
    assert report.outcome is TestOutcome.FAILED, report
    assert "mmap is not allowed during tests" in report.feedback, report.feedback
