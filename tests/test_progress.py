"""The heartbeat writes a line only after a silence as long as its period."""

from __future__ import annotations

import time

import pytest

from toolthink.progress import Heartbeat


def test_a_silent_stage_gets_lines_and_a_talking_one_none() -> None:
    lines: list[str] = []
    with Heartbeat(lines.append, lambda: f"loading model ({beat.elapsed():.1f} s)",
                   every=0.05) as beat:
        time.sleep(0.2)
        silent = len(lines)
        for _ in range(10):  # the stage talks every 10 ms: no beat needed
            beat.say("turn\n")
            time.sleep(0.01)
    assert silent >= 2
    assert lines[0].startswith("loading model (")
    assert lines[0].endswith(" s)\n")
    assert lines[silent:] == ["turn\n"] * 10


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every=0 must be a positive number of seconds"):
        Heartbeat(print, str, every=0)
