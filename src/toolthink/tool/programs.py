"""The programs the sandbox runs, each assembled from parts of this package's source.

Inside the sandbox toolthink is not importable: the launcher runs as
``python -I -S -B -c <source>`` with the standard library only, and receives
the source of every other program it runs (the harness, the separate mode's
tests' process, proxies, candidate and wire, the zygote) on its command line
(`toolthink.tool._launcher`). A program too long for one module is split by
concept into parts, each a private module of this package so that tests and
type checks import it; `program` joins a program's parts, in order, into one
source: one module, one namespace, as if the parts were one file.

A part names what it takes from another part of its program in an import
guarded by ``if TYPE_CHECKING or __name__.startswith("toolthink."):``. The
import runs when the package imports the part; in the sandbox the module is
``__main__`` (or a name the launcher gives, ``_toolthink_...``), so it is
skipped and the names are the program's own. tests/tool/test_programs.py
checks that no two parts of a program define one name and that each guarded
name is defined by another part of the same program.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence

__all__ = [
    "CANDIDATE",
    "HARNESS",
    "LAUNCHER",
    "PROXIES",
    "TESTS_RUNNER",
    "WIRE",
    "ZYGOTE",
    "launcher_args",
    "program",
]

LAUNCHER = ("_kernel.py", "_compiled_tests.py", "_interpreters.py", "_cleanup.py", "_launcher.py")
"""The launcher: system calls, the tests' compilation, interpreters, a run's end, the loop."""
HARNESS = ("_records.py", "_code_module.py", "_guard.py", "_harness.py")
"""The one-process harness: records, the code's module, the guard (holds the secret), the run."""
TESTS_RUNNER = ("_records.py", "_code_module.py", "_tests_process.py", "_tests_runner.py")
"""The separate mode: records, the code's module, the tests' process, the pair started per job."""
PROXIES = ("_proxies.py",)
CANDIDATE = ("_code_module.py", "_candidate.py")
"""The candidate's process: the code's module, the server of the tests' requests."""
WIRE = ("_wire.py",)
ZYGOTE = ("_zygote.py",)

_FUTURE = "from __future__ import annotations\n"


def _source(name: str) -> str:
    return importlib.resources.files("toolthink.tool").joinpath(name).read_text("utf-8")


def program(parts: Sequence[str]) -> str:
    """The source of one sandbox program: its parts' sources, in order, as one module.

    Args:
        parts: File names in ``toolthink/tool/``, e.g. `LAUNCHER`; the last
            one holds the program's entry point.

    Returns:
        One part's source unchanged; several parts' sources joined, each
        one's ``from __future__ import annotations`` moved to the top (a future
        import must come first).
    """
    sources = [_source(name) for name in parts]
    if len(sources) == 1:
        return sources[0]
    return _FUTURE + "".join(source.replace(_FUTURE, "", 1) for source in sources)


def launcher_args(kill_scope: str, ipc: str, first: str) -> list[str]:
    """The interpreter's arguments that start the launcher (`toolthink.tool._launcher.main`).

    Args:
        kill_scope: ``"pidns"`` or ``"session"`` (`toolthink.tool.isolation.IsolationPlan`).
        ipc: ``"ipc"`` for a fresh IPC namespace per run, else ``"shared-ipc"``.
        first: The kind of interpreter to start ahead of the first job
            (``"same"`` or ``"separate"``, `toolthink.tool.boundary.TestsProcess`).
    """
    return ["-I", "-S", "-B", "-c", program(LAUNCHER), kill_scope, program(HARNESS), ipc,
            program(TESTS_RUNNER), program(PROXIES), program(CANDIDATE), program(WIRE), first,
            program(ZYGOTE)]  # fmt: skip
