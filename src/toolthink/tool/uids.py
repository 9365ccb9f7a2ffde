"""Uids of their own for the fallback's sandboxes, leased host-wide with lock files.

Without bubblewrap there is no user namespace, so two limits of a run depend on
its uid: ``RLIMIT_NPROC`` counts every process of the run's *real* uid on the
whole host, and any process of the same uid may signal it. With one shared uid
(65534, ``nobody``) unreaped processes of earlier runs, or other ``nobody``
processes, used up the limit (every run then failed with "cannot start the
test thread"), and concurrent runs could kill each other.

So, when toolthink runs as root, each fallback sandbox leases a *pair* of
otherwise unused uids: it runs with the first as real uid and the second as
effective uid. The real uid makes the process limit per sandbox; the pair
being unequal makes every process of the sandbox non-dumpable on exec (Linux
``begin_new_exec``: credentials with ``euid != uid``), so its ``/proc/<pid>/``
files belong to root: no run can open ``/proc/self/mem`` (nor another run's),
by any path, symlink or descriptor (`toolthink.tool.isolation`).

A lease is an exclusive ``flock`` on ``<dir>/<uid>.lock`` in a root-owned
folder (``/run/toolthink-sandbox-uids``, else the temporary folder), held as
long as the sandbox lives and released by the kernel if this process dies; a
pair is skipped while any process on the host still runs with either uid.
The uids come from ``first`` upwards (default 1,900,000,000: the range that
systemd's "Users, Groups, UIDs and GIDs" document leaves unused, above the
container ranges and below 2^31).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import tempfile
from pathlib import Path

from toolthink.errors import ToolthinkError

__all__ = ["FALLBACK_UIDS", "UidLease", "UidsExhaustedError", "lease_uids"]

FALLBACK_UIDS = 1_900_000_000
"""The first uid the fallback leases (see the module docstring)."""
_PAIRS = 4096
_FOLDERS = ("/run/toolthink-sandbox-uids", f"{tempfile.gettempdir()}/toolthink-sandbox-uids")


class UidsExhaustedError(ToolthinkError, RuntimeError):
    """No pair of uids is free for a fallback sandbox."""


class UidLease:
    """A held pair ``(real, effective)`` of uids; `release` (or process exit) frees it."""

    def __init__(self, real: int, effective: int, fd: int) -> None:
        self.real = real
        self.effective = effective
        self._fd: int | None = fd

    def release(self) -> None:
        """Kill any process still running as either uid, then free the pair; idempotent.

        After a polite stop none is left (the launcher reaps its runs); after a
        killed launcher its runs would otherwise live on, holding the uids.
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        for pid in _processes_of({self.real, self.effective}):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        os.close(fd)


def _folder() -> Path:
    """A folder for the lock files that only root can write (made on first use).

    Raises:
        UidsExhaustedError: Neither folder is usable (one exists but is not a
            root-owned, root-only folder: someone else made it).
    """
    problems = []
    for name in _FOLDERS:
        folder = Path(name)
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = folder.lstat()
        except OSError as exc:
            problems.append(f"{folder}: {exc.strerror}")
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o022:
            return folder
        problems.append(f"{folder} is not a root-owned folder only root may write")
    msg = f"no folder for the sandbox uid leases: {'; '.join(problems)}; remove the odd one"
    raise UidsExhaustedError(msg)


def _process_uids() -> dict[int, set[int]]:
    """Pid -> its real, effective and saved uids, for every process on the host (/proc)."""
    found: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # it ended meanwhile
        for line in status.splitlines():
            if line.startswith("Uid:"):
                found[int(entry.name)] = {int(value) for value in line.split()[1:4]}
                break
    return found


def _processes_of(uids: set[int]) -> list[int]:
    return [pid for pid, used in _process_uids().items() if used & uids]


def _uids_in_use() -> set[int]:
    return set().union(*_process_uids().values())


def lease_uids(first: int = FALLBACK_UIDS) -> UidLease:
    """Lease the first free pair ``(first + 2k, first + 2k + 1)``, k < 4096.

    Args:
        first: The lowest uid to lease (even or odd).

    Returns:
        The held lease; call `UidLease.release` when the sandbox ends.

    Raises:
        UidsExhaustedError: Every pair is leased or in use, or no lock folder
            is usable.
    """
    folder = _folder()
    in_use = _uids_in_use()
    for pair in range(_PAIRS):
        real = first + 2 * pair
        if real in in_use or real + 1 in in_use:
            continue
        fd = os.open(folder / f"{real}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(real, real + 1, fd)
    msg = (f"all {_PAIRS} uid pairs from {first} are leased or in use; end other sandboxes "
           "or pass SandboxConfig(fallback_uids=...) another range")  # fmt: skip
    raise UidsExhaustedError(msg)
