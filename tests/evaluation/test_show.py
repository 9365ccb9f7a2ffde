"""toolthink show replays an episode file readably."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolthink.evaluation.show import main

EPISODE = {
    "task_id": "toolthink/add", "mode": "chain-of-edits", "sample": 0, "passed": True,
    "initial_code": "def add(a, b):\n    return a - b\n",
    "turns": [
        {"command": "REPW 2 >>>- >>>+", "status": "applied", "reward": 1.0,
         "code": "def add(a, b):\n    return a + b\n", "feedback": "All tests passed."},
        {"command": "EXIT", "status": "exit", "reward": 0.0,
         "code": "def add(a, b):\n    return a + b\n", "feedback": ""},
    ],
}


def test_shows_command_diff_and_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n")
    html = tmp_path / "episodes.html"
    assert main([str(path), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "REPW 2 >>>- >>>+" in out
    assert "-    return a - b" in out
    assert "+    return a + b" in out
    assert "All tests passed." in out
    assert "repaired" in out
    assert "<html" in html.read_text()


def test_filters_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n")
    assert main([str(path), "--failed"]) == 0
    assert "no episode matched" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not a file"):
        main([str(tmp_path / "missing.jsonl")])
    path.write_text("{oops\n")
    with pytest.raises(SystemExit, match="line 1"):
        main([str(path)])
