"""toolthink show replays an episode file readably."""

from __future__ import annotations

import json
import re
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


def test_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n")
    assert main([str(path), "--failed"]) == 0
    assert "no episode matched" in capsys.readouterr().out


DEMO = {"id": "t#0", "task_id": "t", "split": "train", "corrupted": "x = 1\n",
        "commands": ["EXIT"], "observations": ["..."], "rewards": [0.0]}
TRAJECTORY = {"step": 1, "task_id": "t", "commands": ["EXIT"], "observations": ["..."],
              "rewards": [0.0], "infos": [{}], "passed": False}


@pytest.mark.parametrize(("content", "message"), [
    ("{oops\n", r"line 1 of .* is not JSON"),
    (json.dumps(DEMO) + "\n", r"line 1 of .* is not an evaluation episode: it looks like a "
     r"demonstrations file .*toolthink data demos.*fields task_id, mode, sample, passed, "
     r"initial_code, turns"),
    (json.dumps(EPISODE) + "\n" + json.dumps(TRAJECTORY) + "\n",
     r"line 2 of .* looks like RL sample episodes \(trajectories.jsonl"),
    ('{"a": 1}\n', r"looks like a record with the fields \['a'\]"),
    ("[1, 2]\n", r"looks like a JSON list"),
])
def test_a_file_of_other_records_is_a_usage_error(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(content)
    with pytest.raises(SystemExit) as info:
        main([str(path)])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(("argv", "message"), [
    (["{missing}"], r"missing.jsonl is not a file"),
    (["{episodes}", "--html", "{tmp}/nowhere/x.html"], r"--html .*nowhere.* does not exist"),
    (["{episodes}", "--html", "{tmp}"], r"--html .* is a folder: name a file"),
    (["{episodes}", "--limit", "0"], r"--limit: '0' must be an integer >= 1"),
])
def test_bad_arguments_exit_2_before_showing_anything(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(json.dumps(EPISODE) + "\n")
    names = {"{missing}": str(tmp_path / "missing.jsonl"), "{episodes}": str(episodes),
             "{tmp}": str(tmp_path)}
    for name, value in names.items():
        argv = [a.replace(name, value) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert re.search(message, captured.err)
    assert "REPW" not in captured.out
