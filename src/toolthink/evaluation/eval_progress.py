"""How ``toolthink eval`` shows progress: rich bars in a terminal, text lines elsewhere.

Issue 17 found a 4-task run silent for 142 s (one batch, "a line after each
batch") and ``direct: 4/4 attempts done (178 s)`` beside a table saying 36 s:
the line counted from the start of the evaluation, the table per mode. Now,
off a terminal (a log file, CI, a pipe), `ProgressLines` writes a line when a
mode starts, when each Chain-of-Edits episode ends, and after each batch, all
timed with the table's per-mode clock ("s in this mode"), and a
`toolthink.progress.Heartbeat` fills any 30 s without one. In a terminal the
bars' elapsed-time column ticks instead, each bar's from its mode's start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress

from toolthink.env import StepStatus
from toolthink.progress import Heartbeat

if TYPE_CHECKING:
    from toolthink.rollout.episodes import Turn

__all__ = ["ProgressLines", "eval_progress"]


class ProgressLines:
    """Progress as text lines; each method returns the line to write (newline-terminated).

    Args:
        total: Attempts per mode.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done: dict[str, int] = {}
        self.mode = ""
        self.mode_started = time.perf_counter()
        self.turn = 0

    def seconds(self) -> float:
        """Seconds since the current mode started."""
        return time.perf_counter() - self.mode_started

    def attempts(self, mode: str, n: int, seconds: float) -> str:
        """The line for ``n`` more finished attempts of ``mode`` (0: the mode starts)."""
        if n == 0:
            self.mode, self.turn = mode, 0
            self.mode_started = time.perf_counter() - seconds
            self.done[mode] = 0
            return f"{mode}: started ({self.total} attempts)\n"
        self.done[mode] = self.done.get(mode, 0) + n
        self.turn = 0
        return (f"{mode}: {self.done[mode]}/{self.total} attempts done ({seconds:.0f} s in this "
                "mode)\n")

    def turn_played(self, mode: str, turn: Turn) -> str | None:
        """The line for an episode that ended with ``turn``; None for other turns."""
        self.turn = max(self.turn, turn.info.turn)
        if not turn.done:
            return None
        how = ("sent EXIT" if turn.info.status is StepStatus.EXIT else
               "hit the turn limit" if turn.info.truncated else "ran out of tokens")
        verdict = "tests pass" if turn.info.passed else "tests fail"
        return (f"{mode}: episode {self.done.get(mode, 0) + turn.episode + 1}/{self.total} "
                f"{how} after {turn.info.turn} turn(s), {verdict} "
                f"({self.seconds():.0f} s in this mode)\n")

    def status(self) -> str:
        """What is happening now, for the heartbeat."""
        doing = (f"playing turn {self.turn + 1}" if self.mode == "chain-of-edits"
                 else "generating answers")
        return (f"{self.mode or 'evaluation'}: {self.done.get(self.mode, 0)}/{self.total} "
                f"attempts done, {doing} ({self.seconds():.0f} s in this mode)")


def eval_progress(
    bar: Progress, console: Console, total: int, modes: Sequence[str], batch: int,
) -> tuple[Callable[[str, int, float], None], Callable[[str, Turn], None], Heartbeat]:
    """The evaluator's ``progress`` and ``on_turn`` callbacks, and the heartbeat to enter.

    In a terminal: rich bars (the heartbeat writes nothing). Elsewhere: the
    lines of `ProgressLines` on stderr, and heartbeat lines between them.
    """
    # Each bar's clock starts with its mode, as the table's seconds do.
    bars = {mode: bar.add_task(mode, total=total, start=False) for mode in modes}
    lines = ProgressLines(total)
    terminal = console.is_terminal
    beat = Heartbeat((lambda _: None) if terminal else sys.stderr.write, lines.status)
    if not terminal:
        beat.say(f"evaluating {total} attempts per mode ({', '.join(modes)}) in batches of "
                 f"{batch}; a line per batch and per finished Chain-of-Edits episode, at "
                 "least one every 30 s\n")

    def progress(mode: str, n: int, seconds: float) -> None:
        if n == 0:
            bar.start_task(bars[mode])
        bar.advance(bars[mode], n)
        line = lines.attempts(mode, n, seconds)
        if not terminal:
            beat.say(line)

    def on_turn(mode: str, turn: Turn) -> None:
        line = lines.turn_played(mode, turn)
        if line is not None and not terminal:
            beat.say(line)

    return progress, on_turn, beat
