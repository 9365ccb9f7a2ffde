"""The launcher's system calls: the few that Python 3.10/3.11's ``os`` lacks, through libc.

Part of the launcher's program (`toolthink.tool.programs`): it runs on the
sandbox's interpreter with the standard library only.
"""

from __future__ import annotations

import os

_PR_SET_DUMPABLE = 4  # include/uapi/linux/prctl.h
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CLONE_NEWIPC = 0x08000000  # include/uapi/linux/sched.h
_CLONE_NEWPID = 0x20000000
_CAP_VERSION_3 = 0x20080522  # include/uapi/linux/capability.h


class _Kernel:
    """The few system calls Python 3.10/3.11's ``os`` lacks, through libc (ctypes).

    Only the launcher uses them: it is the sandbox's trusted code and runs no
    candidate code (each run is a separate interpreter, which never sees ctypes).
    """

    def __init__(self) -> None:
        import ctypes  # noqa: PLC0415 (only here: about 10 ms, once per sandbox)

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = self.ctypes.get_errno()
            msg = f"{what} failed: {os.strerror(errno)}"
            raise OSError(errno, msg)

    def make_nondumpable(self) -> None:
        """``prctl(PR_SET_DUMPABLE, 0)``: no process of a run reaches our descriptors or memory.

        Jobs and secrets pass through the launcher, and the tests' process is
        forked from it (forks keep the flag; an exec'd interpreter loses it):
        ``pidfd_getfd`` would hand a run their descriptors (the verdict
        channel, the pipes to the host), ``/proc/<pid>/mem`` (in the fallback)
        their memory. Both need ptrace access, which the kernel refuses to a
        non-dumpable target without ``CAP_SYS_PTRACE``; the seccomp filter
        denies ``pidfd_getfd`` too (`toolthink.tool.isolation`).
        """
        self._check(self.libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "PR_SET_DUMPABLE")

    def drop_capabilities(self) -> None:
        """Empty every capability set of this process (the forked tests' process).

        The launcher keeps CAP_SYS_ADMIN for `new_ipc_namespace`; a fork
        inherits it, and the tests' process needs none.
        """
        header = (self.ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
        self._check(self.libc.capset(header, (self.ctypes.c_uint32 * 6)()), "capset")

    def become_subreaper(self) -> None:
        """Orphans of our children become ours (not pid 1's), so we can reap them."""
        self._check(self.libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "PR_SET_CHILD_SUBREAPER")

    def keep_capabilities_here(self) -> None:
        """Clear the inheritable and ambient sets: what we exec gets no capability.

        Bubblewrap gives this process CAP_SYS_ADMIN (``--cap-add``) in the
        sandbox's own user namespace, as an ambient capability; we keep it
        (effective, permitted) for `new_ipc_namespace`, and no run inherits it.
        """
        words = self.ctypes.c_uint32 * 6
        header = (self.ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
        data = words()
        self._check(self.libc.capget(header, data), "capget")
        data[2] = data[5] = 0  # inheritable, both 32-bit words
        self._check(self.libc.capset(header, data), "capset")
        self._check(self.libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
                    "PR_CAP_AMBIENT_CLEAR_ALL")  # fmt: skip

    def new_pid_namespace(self) -> None:
        """Our next child is init of a new pid namespace, and every later one lives there."""
        self._check(self.libc.unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")

    def new_ipc_namespace(self) -> None:
        """Move to a fresh IPC namespace: what later children create, no earlier run saw.

        SysV shared memory, message queues and semaphores, and POSIX message
        queues, live in the IPC namespace; the previous run's namespace goes
        when its last process does (all are killed before the next starts).
        """
        self._check(self.libc.unshare(_CLONE_NEWIPC), "unshare(CLONE_NEWIPC)")
