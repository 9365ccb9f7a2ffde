"""Resource limits of one sandboxed run."""

from __future__ import annotations

import attrs

from toolthink.validators import positive_int

__all__ = ["Limits"]

_MiB = 1 << 20


@attrs.frozen
class Limits:
    """Limits each process of a run sets on itself (``setrlimit``), and its output cap.

    The CPU-time limit is derived from the run's timeout (``ceil(timeout) + 1``
    seconds), so it only binds a run that burns CPU in several threads at once.
    ``RLIMIT_NPROC`` counts tasks (threads too) of the sandbox's real uid, which
    no other sandbox shares (bubblewrap: a user namespace per sandbox; the
    fallback as root: a uid pair per sandbox, `toolthink.tool.uids`): the
    launcher, the interpreter, its runner thread and its faulthandler watchdog
    take four, so the default leaves the candidate six more. The interpreter
    sets these limits on itself before any candidate code runs. Worst-case
    memory of one worker is about ``processes * memory_bytes``.

    Attributes:
        memory_bytes: Address-space limit per process (``RLIMIT_AS``), bytes.
        file_size_bytes: Largest file a run may write (``RLIMIT_FSIZE``), bytes.
        processes: Process and thread limit (``RLIMIT_NPROC``).
        open_files: Open file descriptors per process (``RLIMIT_NOFILE``).
        output_bytes: Captured stdout+stderr per run, bytes; a run that writes
            more is stopped and fails (`TestOutcome.OUTPUT_LIMIT`).
        tmp_bytes: Size of the sandbox's private /tmp and /dev/shm, bytes
            (bubblewrap only).
    """

    memory_bytes: int = attrs.field(default=512 * _MiB, validator=positive_int)
    file_size_bytes: int = attrs.field(default=16 * _MiB, validator=positive_int)
    processes: int = attrs.field(default=10, validator=positive_int)
    open_files: int = attrs.field(default=64, validator=positive_int)
    output_bytes: int = attrs.field(default=1 * _MiB, validator=positive_int)
    tmp_bytes: int = attrs.field(default=64 * _MiB, validator=positive_int)

    def as_job(self) -> dict[str, int]:
        """The limits the launcher applies, as a JSON-ready mapping."""
        return {
            "memory_bytes": self.memory_bytes,
            "file_size_bytes": self.file_size_bytes,
            "processes": self.processes,
            "open_files": self.open_files,
            "output_bytes": self.output_bytes,
        }
