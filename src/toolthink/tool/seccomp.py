"""The sandbox's seccomp filter: a short list of system calls denied, the rest allowed.

Bubblewrap installs it (``bwrap --seccomp FD``) in every sandbox it starts
(`toolthink.tool.isolation`); the program is classic BPF, built here without
libseccomp.
"""

from __future__ import annotations

import os
import platform
import struct

__all__ = ["seccomp_filter", "seccomp_pipe"]

# Seccomp: deny a short list of system calls with EPERM, allow the rest.
# ptrace and process_vm_* would let a process read another's memory (the
# harness's secret); pidfd_getfd would hand a run another process's
# descriptors (the launcher's pipes to the host, the tests' process's verdict
# channel), process_madvise and process_mrelease act on another's memory, kcmp
# compares another's descriptors: no process of the sandbox needs them (the
# launcher uses pidfd_open only, to wait). The launcher and the tests' process
# are non-dumpable as well, which the kernel's ptrace access check for all of
# these refuses already; the filter holds if that ever fails. perf_event_open,
# bpf, userfaultfd, io_uring and the keyring are kernel attack surface no test
# needs. Numbers: arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h (aarch64).
_DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open", "bpf",
           "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
           "keyctl", "add_key", "request_key", "pidfd_getfd", "process_madvise",
           "process_mrelease", "kcmp")  # fmt: skip
_SYSCALLS = {
    "x86_64": (0xC000003E, (101, 310, 311, 298, 321, 323, 425, 426, 427, 250, 248, 249,
                            438, 440, 448, 312)),
    "aarch64": (0xC00000B7, (117, 270, 271, 241, 280, 282, 425, 426, 427, 219, 217, 218,
                             438, 440, 448, 272)),
}
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_X32_SYSCALL_BIT = 0x40000000


def seccomp_filter(machine: str | None = None) -> bytes | None:
    """Return the sandbox's seccomp program (classic BPF, ``struct sock_filter[]``).

    Denies with EPERM: ptrace, process_vm_readv/writev, pidfd_getfd,
    process_madvise, process_mrelease, kcmp, perf_event_open, bpf,
    userfaultfd, io_uring_* and the keyring calls; a foreign system-call ABI (i386
    or x32 on x86_64) is denied entirely. Everything else is allowed.

    Args:
        machine: ``platform.machine()`` value; None for this machine.

    Returns:
        The program bytes for ``bwrap --seccomp``, or None on an architecture
        without a table here (then no filter is installed).
    """
    entry = _SYSCALLS.get(machine or platform.machine())
    if entry is None:
        return None
    arch, numbers = entry
    deny = _SECCOMP_RET_ERRNO | _EPERM
    n = len(numbers)
    prog: list[tuple[int, int, int, int]] = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # A = seccomp_data.arch
        (_BPF_JEQ_K, 1, 0, arch),  # native ABI: skip the next instruction
        (_BPF_RET_K, 0, 0, deny),
        (_BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
        (_BPF_JGE_K, n + 1, 0, _X32_SYSCALL_BIT),  # x32 numbers: jump to deny
    ]
    for i, number in enumerate(numbers):
        prog.append((_BPF_JEQ_K, n - i, 0, number))  # match: jump to deny
    prog.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    prog.append((_BPF_RET_K, 0, 0, deny))
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)




def seccomp_pipe(program: bytes | None) -> int | None:
    """A pipe's read end holding ``program`` for ``bwrap --seccomp FD`` (None if no program).

    The caller closes it after spawning.
    """
    if program is None:
        return None
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, program)  # a few hundred bytes: fits the pipe buffer
    finally:
        os.close(write_fd)
    return read_fd
