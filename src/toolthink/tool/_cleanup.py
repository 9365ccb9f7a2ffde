"""The end of each run: every other process of it killed and reaped, its folders emptied.

Part of the launcher's program (`toolthink.tool.programs`). The launcher is a
subreaper (or pid 1 of bubblewrap's namespace), so a run's orphans are its
children; under bubblewrap with the capability for namespaces, the runs live in
the zygote's namespace instead, and the zygote reaps and kills them when asked
(`toolthink.tool._zygote`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from typing import Any

_ZOMBIE_SECONDS = 0.05  # after exit: time for the run's last children to finish exiting
_ZYGOTE: list[socket.socket] = []  # the launcher's socket to the zygote, if it has one


def _ask_zygote(request: bytes) -> bool:
    """Send ``request`` (`toolthink.tool._zygote`); whether the answer is ``1``."""
    zygote = _ZYGOTE[0]
    zygote.sendall(request)
    return zygote.recv(1) == b"1"


def _reap() -> None:
    """Collect every finished child: the launcher is a subreaper, so orphans are ours.

    The candidates forked by the zygote, and their orphans, are the zygote's:
    it reaps them when asked (so that none still counts as alive for `_others_alive`).
    """
    if _ZYGOTE:
        _ask_zygote(b"R")
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others_alive(scope: str, pgid: int) -> bool:
    """Whether any process of the run besides the launcher (and pid 1) is alive."""
    if _ZYGOTE:
        return _ask_zygote(b"A")
    try:
        if scope == "pidns":
            os.kill(-1, 0)
        else:
            os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_rest(scope: str, pgid: int) -> None:
    """SIGKILL every other process of the run, and reap it, until none is left (at most ~1 s)."""
    for _ in range(1000):
        _reap()
        if _ZYGOTE:
            if not _ask_zygote(b"K"):
                return
            time.sleep(0.001)
            continue
        try:
            if scope == "pidns":
                os.kill(-1, signal.SIGKILL)
            else:
                os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.001)
    _reap()


def _wipe(folder: str) -> bool:
    """Delete everything under ``folder``; return whether it is empty afterwards.

    A run may leave folders without permissions or nested too deep to delete;
    then the host restarts the sandbox, whose /tmp goes with it.
    """

    def retry(func: Any, path: str, _info: Any) -> None:
        try:
            os.chmod(os.path.dirname(path) or ".", 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
        except (OSError, TypeError):
            pass

    try:
        os.chmod(folder, 0o700)
        for entry in list(os.scandir(folder)):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, onerror=retry)
            else:
                os.unlink(entry.path)
        return not os.listdir(folder)
    except (OSError, RecursionError):
        return False


def _lingering(scope: str, pgid: int) -> bool:
    """Whether the run left processes behind, allowing children that are exiting a moment."""
    wait_until = time.monotonic() + _ZOMBIE_SECONDS
    _reap()
    alive = _others_alive(scope, pgid)
    while alive and time.monotonic() < wait_until:
        time.sleep(0.002)
        _reap()
        alive = _others_alive(scope, pgid)
    return alive
