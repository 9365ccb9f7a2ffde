"""How a sandbox is started: bubblewrap, an unprivileged uid and a seccomp filter.

A sandbox is one long-lived process tree that the test runner starts per worker
(`toolthink.tool.sandbox`). This module decides *how* it is started and builds
the command line:

- `Isolation.BWRAP`: bubblewrap (Debian package ``bubblewrap``) with fresh user,
  pid, network, ipc and uts namespaces; no network; ``/usr`` (and the interpreter's
  prefix) read-only; a read-only root and ``/dev`` with private, size-capped
  ``/tmp`` and ``/dev/shm`` (the only writable places, emptied between runs);
  no ``/proc``; ``--die-with-parent``; nested user namespaces
  disabled; and a seccomp filter (`toolthink.tool.seccomp`) that denies
  ptrace, cross-process memory access, ``pidfd_getfd`` and a few kernel
  interfaces tests never need. The launcher is the pid
  namespace's init (``--as-pid-1``): it reaps every orphan of a run, and no
  signal from a run reaches it. With the capability below it also forks a
  zygote (`toolthink.tool._zygote`) as init of a nested pid namespace, where
  every process of every run lives and the launcher has no pid; the zygote
  forks the separate mode's candidates and reaps and ends the runs' processes.
  They alone keep CAP_SYS_ADMIN, in the sandbox's own user namespace, to move
  to a fresh IPC namespace before each run (SysV
  shared memory, semaphores and message queues, POSIX message queues); POSIX
  shared memory lives in ``/dev/shm``, emptied between runs. No run inherits a
  capability (`toolthink.tool._launcher`).
- `Isolation.PROCESS`: the fallback where bubblewrap cannot start. A plain
  subprocess with the same resource limits; the launcher is a child subreaper
  and reaps every orphan of a run. One warning is logged per configuration.
  As root, each sandbox runs as a leased pair of uids of its own, real unlike
  effective (`toolthink.tool.uids`): its process limit counts its own
  processes only, and its processes are non-dumpable, so none can open a
  ``/proc/<pid>/mem`` (its own included). It does *not* isolate the network,
  the filesystem (the host's ``/tmp`` and anything world-writable), the IPC
  namespace (SysV objects and ``/dev/shm`` persist between runs and are shared
  with the host), or the process table (a run sees the host's processes). Not
  as root it runs as the caller's uid, whose process limit counts every
  process of that user.

When toolthink runs as root the sandbox is started as an unprivileged uid
through ``setpriv``, because a process-count limit (``RLIMIT_NPROC``) does not
bind root (measured here: /work/shared/FIELD-NOTES.md).
That uid must be able to run the interpreter, so a Python under a root-only
folder (pyenv in /root) is skipped for a world-readable one such as Debian's
``/usr/bin/python3``.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from toolthink.errors import ToolthinkError
from toolthink.tool.seccomp import seccomp_filter, seccomp_pipe

__all__ = [
    "Isolation",
    "IsolationPlan",
    "SandboxUnavailableError",
    "plan_isolation",
    "seccomp_filter",
]

log = logging.getLogger(__name__)

_PROBE = "import sys; print('toolthink-probe', *sys.version_info[:2])"
_VERSIONS = ((3, 10), (3, 11))
"""Interpreters the harness's verdict was checked under. 3.9 lacks
``sys.stdlib_module_names``; from 3.12 pure Python can rewrite a running frame
(``sys.monitoring`` callbacks set ``f_lineno``; from 3.13 ``f_locals`` writes
through, PEP 667), which forges a pass (see `toolthink.tool._harness`)."""
_PROBE_TIMEOUT = 20.0  # seconds; bubblewrap starts in well under one
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")


class Isolation(enum.Enum):
    """The isolation a run actually had (recorded in every `TestReport`)."""

    BWRAP = "bwrap"
    """Bubblewrap namespaces, read-only system, private /tmp, seccomp, resource limits."""
    PROCESS = "process"
    """Fallback: a plain subprocess with resource limits only."""


class SandboxUnavailableError(ToolthinkError, RuntimeError):
    """Bubblewrap isolation was required (``isolation="bwrap"``) but cannot start."""


@attrs.frozen
class IsolationPlan:
    """A checked recipe for starting sandboxes.

    Attributes:
        isolation: What the sandbox will have.
        python: The interpreter run inside the sandbox (a path valid there).
        prefix: The argv that goes before the interpreter; the token ``{seccomp}``
            stands for the file descriptor of the seccomp program.
        seccomp: The seccomp program (classic BPF) passed to bubblewrap, or None.
        kill_scope: ``"pidns"`` when the sandbox has its own pid namespace (so the
            launcher may kill every other process in it), else ``"session"``.
        reason: Why this isolation was chosen (shown in warnings and reports).
        probe_uid: The uid the plan was probed as (root: the configured
            unprivileged uid; else ours).
        ipc_per_run: Whether the launcher moves to a fresh IPC namespace before
            each run (bubblewrap, unless the sandbox runs as root: then it
            keeps no capability and its runs share one IPC namespace).
    """

    isolation: Isolation
    python: str
    prefix: tuple[str, ...]
    seccomp: bytes | None
    kill_scope: str
    reason: str
    probe_uid: int = attrs.field(factory=os.geteuid)
    ipc_per_run: bool = False

    def argv(
        self,
        python_args: Sequence[str],
        seccomp_fd: int | None,
        uids: tuple[int, int] | None = None,
    ) -> list[str]:
        """Return the full command line that runs ``python python_args`` in the sandbox.

        Args:
            python_args: The interpreter's arguments.
            seccomp_fd: The descriptor holding the seccomp program, if the plan has one.
            uids: ``(real, effective)`` uids for a fallback plan that drops
                privileges (its prefix names ``{ruid}`` and ``{euid}``);
                None runs both as the plan's probe uid.
        """
        fd = "" if seccomp_fd is None else str(seccomp_fd)
        real, effective = uids if uids is not None else (self.probe_uid, self.probe_uid)
        tokens = [
            fd if token == "{seccomp}"
            else token.replace("{ruid}", str(real)).replace("{euid}", str(effective))
            for token in self.prefix
        ]  # fmt: skip
        return [*tokens, self.python, *python_args]

    @property
    def leases_uids(self) -> bool:
        """Whether each sandbox needs a uid pair of its own (`toolthink.tool.uids`)."""
        return any("{ruid}" in token for token in self.prefix)


def plan_isolation(
    choice: str,
    *,
    python: str | None,
    bwrap: str,
    uid: int,
    tmp_bytes: int,
) -> IsolationPlan:
    """Choose and check how sandboxes will be started; cached per argument tuple.

    Args:
        choice: ``"auto"`` (bubblewrap, else the fallback with one warning),
            ``"bwrap"`` (bubblewrap or an error) or ``"process"`` (the fallback).
        python: Interpreter to run inside the sandbox, or None to pick the first
            usable of the running interpreter and ``python3``, ``python3.11``,
            ``python3.10`` in ``/usr/bin`` then ``/usr/local/bin``. Usable means
            Python 3.10 or 3.11: on later versions the tested code can forge the
            verdict (`_VERSIONS`).
        bwrap: The bubblewrap executable (a name looked up on PATH, or a path).
        uid: Unprivileged uid (and gid) for the sandbox when running as root.
        tmp_bytes: Size of the sandbox's private /tmp and /dev/shm, in bytes.

    Returns:
        A plan whose command was started once successfully (a probe run).

    Raises:
        SandboxUnavailableError: ``choice="bwrap"`` and bubblewrap cannot start,
            or no usable interpreter exists.
        ValueError: ``choice`` is not one of the three values.
    """
    return _plan(choice, python, bwrap, uid, tmp_bytes)


@functools.cache
def _plan(choice: str, python: str | None, bwrap: str, uid: int, tmp_bytes: int) -> IsolationPlan:
    if choice not in ("auto", "bwrap", "process"):
        msg = f"isolation must be 'auto', 'bwrap' or 'process', got {choice!r}"
        raise ValueError(msg)
    drop = _drop_privileges(uid)
    interpreters = _interpreters(python, uid if drop else None)
    if not interpreters:
        msg = (
            f"no Python interpreter usable inside the sandbox (tried {python or 'the defaults'}"
            f"{' as uid ' + str(uid) if drop else ''}); name a world-readable Python 3.10 or"
            " 3.11 interpreter with TOOLTHINK_SANDBOX_PYTHON or SandboxConfig(python=...)"
        )
        raise SandboxUnavailableError(msg)
    failures: list[str] = []
    if choice != "process":
        found = shutil.which(bwrap)
        if found is None:
            failures.append(f"bubblewrap executable {bwrap!r} not found on PATH")
        else:
            for interpreter, prefix_dir in interpreters:
                plan = _bwrap_plan(
                    found, interpreter, prefix_dir, drop=drop, uid=uid, tmp_bytes=tmp_bytes
                )
                error = _probe(plan)
                if error is None:
                    return plan
                failures.append(f"{interpreter}: {error}")
        reason = "; ".join(failures)
        if choice == "bwrap":
            msg = f"bubblewrap isolation was required but cannot start: {reason}"
            raise SandboxUnavailableError(msg)
        log.warning(
            "bubblewrap is unavailable (%s); tests will run in plain subprocesses with resource "
            "limits only (isolation='process', without network, filesystem or pid isolation). "
            "Install the Debian package 'bubblewrap' to isolate them.",
            reason,
        )
    else:
        reason = "isolation='process' was requested"
    for interpreter, _ in interpreters:
        plan = IsolationPlan(
            isolation=Isolation.PROCESS,
            python=interpreter,
            prefix=_setpriv_pair() if drop else (),
            seccomp=None,
            kill_scope="session",
            reason=reason,
            probe_uid=uid if drop else os.geteuid(),
        )
        error = _probe(plan)
        if error is None:
            return plan
        failures.append(f"{interpreter}: {error}")
    msg = f"no sandbox can start: {'; '.join(failures)}"
    raise SandboxUnavailableError(msg)


def _drop_privileges(uid: int) -> bool:
    """Whether to start the sandbox as ``uid``: only when we are root and it differs."""
    return os.geteuid() == 0 and uid != 0


def _setpriv(uid: int) -> tuple[str, ...]:
    return ("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--")


def _setpriv_pair() -> tuple[str, ...]:
    """Setpriv with real uid ``{ruid}`` unlike effective uid ``{euid}`` (filled per sandbox).

    Unequal, they make every process of the sandbox non-dumpable on exec, so
    its ``/proc/<pid>/mem`` belongs to root (`toolthink.tool.uids`).
    """
    return ("setpriv", "--ruid={ruid}", "--euid={euid}", "--rgid={ruid}", "--egid={ruid}",
            "--clear-groups", "--")  # fmt: skip


def _interpreters(python: str | None, uid: int | None) -> list[tuple[str, str]]:
    """Usable (interpreter, install prefix) pairs, best first."""
    if python is not None:
        candidates = [(python, str(Path(os.path.realpath(python)).parent.parent))]
    else:
        candidates = [
            (sys.executable, sys.base_prefix),
            *((f"{root}/bin/{name}", root) for root in ("/usr", "/usr/local")
              for name in ("python3", "python3.11", "python3.10")),
        ]
    usable: list[tuple[str, str]] = []
    for path, prefix in candidates:
        real = os.path.realpath(path)
        if not os.access(real, os.X_OK) or (uid is not None and not _world_runnable(real)):
            continue
        pair = (real, os.path.realpath(prefix))
        if pair not in usable:
            usable.append(pair)
    return usable


def _world_runnable(path: str) -> bool:
    """Whether any uid may run ``path``: every folder above it searchable, the file r-x."""
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IROTH | stat.S_IXOTH) != (stat.S_IROTH | stat.S_IXOTH):
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in Path(path).parents)
    except OSError:
        return False


def _bwrap_plan(
    bwrap: str, python: str, prefix_dir: str, *, drop: bool, uid: int, tmp_bytes: int
) -> IsolationPlan:
    args: list[str] = [*(_setpriv(uid) if drop else ()), bwrap]
    args += ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    # --as-pid-1: the launcher is the namespace's init: it reaps every orphan
    # (bwrap's own init, once the launcher exited, outlived the outer bwrap
    # and stayed a zombie of the host's pid 1), and no run can kill it.
    # CAP_SYS_ADMIN, in the sandbox's user namespace only: the launcher moves
    # to a fresh IPC namespace before each run and passes no capability on.
    args += ["--as-pid-1", "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL"]
    # As root inside (toolthink as root with uid=0), every run would keep
    # CAP_SYS_ADMIN across exec (the bounding set): then no capability at all.
    ipc_per_run = drop or os.geteuid() != 0
    if ipc_per_run:
        args += ["--cap-add", "CAP_SYS_ADMIN"]
    args += ["--ro-bind", "/usr", "/usr"]
    for folder in _SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for file in _SYSTEM_FILES:
        args += ["--ro-bind-try", file, file]
    if prefix_dir != "/usr" and not prefix_dir.startswith("/usr/"):
        args += ["--ro-bind", prefix_dir, prefix_dir]
    args += ["--dev", "/dev"]
    args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    args += ["--size", str(tmp_bytes), "--tmpfs", "/dev/shm"]
    # /dev is a tmpfs of its own, uncapped and not wiped between runs: read-only,
    # so no run leaves a file there for the next (its device nodes still work).
    args += ["--remount-ro", "/dev"]
    args += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    args += ["--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp"]
    args += ["--setenv", "LANG", "C.UTF-8"]
    program = seccomp_filter()
    if program is not None:
        args += ["--seccomp", "{seccomp}"]
    args.append("--")
    return IsolationPlan(
        isolation=Isolation.BWRAP,
        python=python,
        prefix=tuple(args),
        seccomp=program,
        kill_scope="pidns",
        reason="bubblewrap started",
        ipc_per_run=ipc_per_run,
    )


def _probe(plan: IsolationPlan) -> str | None:
    """Start the plan's command once; return None on success or what went wrong."""
    read_fd = seccomp_pipe(plan.seccomp)
    try:
        done = subprocess.run(
            plan.argv(["-I", "-S", "-c", _PROBE], read_fd),
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            pass_fds=() if read_fd is None else (read_fd,),
            env=_host_env(),
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if read_fd is not None:
            os.close(read_fd)
    words = done.stdout.split()
    if len(words) == 3 and words[0] == "toolthink-probe":
        version = (int(words[1]), int(words[2]))
        if version in _VERSIONS:
            return None
        return (
            f"Python {version[0]}.{version[1]} cannot run the harness safely; it needs 3.10 or"
            " 3.11 (3.12 and later let the tested code rewrite the harness's frame and forge"
            " a pass): install one (e.g. `apt-get install python3.11` or `uv python install"
            " 3.11`) and name it with TOOLTHINK_SANDBOX_PYTHON=/path/to/python3.11 or"
            " SandboxConfig(python=...)"
        )
    detail = (done.stderr.strip() or done.stdout.strip() or "no output")[-300:]
    return f"exit status {done.returncode}: {detail}"


def _host_env() -> dict[str, str]:
    """The environment for setpriv/bwrap themselves; the sandbox gets its own."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def seccomp_fd(plan: IsolationPlan) -> int | None:
    """Open a pipe holding the plan's seccomp program; the caller closes it after spawning."""
    return seccomp_pipe(plan.seccomp)
