"""A heartbeat: a progress line whenever a long stage has been silent too long.

Issue 17: every stage longer than 30 s says something at least every 30 s
(a 4-task evaluation used to be one batch and 142 s of silence). A stage that
prints its own lines (`Heartbeat.touch` after each) is never interrupted; one
that cannot (a model loading, a long ``generate``) gets a ``status()`` line
from a background thread. Outside the layers, like `toolthink.jsonl`:
``toolthink eval``, ``toolthink repair`` and ``toolthink demo`` share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat"]

HEARTBEAT_SECONDS = 30.0
"""The longest silence a stage may keep, seconds (issue 17)."""


class Heartbeat:
    """Calls ``write(status() + "\\n")`` after each ``every`` seconds without `say` or `touch`.

    Use as a context manager around the long stage; the thread is a daemon and
    stops on exit. ``status`` is read at each beat, so it can say how far the
    stage has got (and `elapsed` how long it has run).

    Args:
        write: Where the line goes (e.g. ``sys.stderr.write``).
        status: What the stage is doing now, e.g. ``"loading model embedded"``.
        every: Seconds of silence before a line.
    """

    def __init__(self, write: Callable[[str], object], status: Callable[[], str], *,
                 every: float = HEARTBEAT_SECONDS) -> None:
        if not every > 0:
            msg = f"every={every!r} must be a positive number of seconds"
            raise ValueError(msg)
        self.write, self.status, self.every = write, status, every
        self.started = self.last = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="toolthink-heartbeat",
                                        daemon=True)

    def elapsed(self) -> float:
        """Seconds since this heartbeat was made."""
        return time.monotonic() - self.started

    def touch(self) -> None:
        """Something was just printed: the next beat is ``every`` seconds from now."""
        with self._lock:
            self.last = time.monotonic()

    def say(self, line: str) -> None:
        """Write ``line`` (newline-terminated) and `touch`: one lock, so lines never interleave."""
        with self._lock:
            self.write(line)
            self.last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(max(self.last + self.every - time.monotonic(), 0.05)):
            with self._lock:
                now = time.monotonic()
                if now - self.last >= self.every:
                    self.write(f"{self.status()}\n")
                    self.last = now

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
