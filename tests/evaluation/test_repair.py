"""toolthink repair: writes FILE.repaired.py only when the tests pass; never touches FILE.

Also (issue 17): each attempt streams as it is played, the episodes are saved in
FILE.repair.jsonl for `toolthink show`, and tests that check nothing or a folder
that is no adapter are named usage errors before any model loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from toolthink.env import RepairEnv
from toolthink.evaluation import repair, show
from toolthink.evaluation.episode_view import episode_problem
from toolthink.rollout.episodes import Turn
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    code, tests = tmp_path / "add.py", tmp_path / "test_add.py"
    code.write_text(BUGGY)
    tests.write_text(TESTS)
    return code, tests


def played(task: RepairTask, sandbox: SandboxPool, commands: list[str], samples: int,
           on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
    """Play ``commands`` in the real environment ``samples`` times, as episode records."""
    records = []
    for sample in range(samples):
        env = RepairEnv(sandbox=sandbox)
        env.reset(task)
        turns = []
        for command in commands:
            observation, reward, done, info = env.step(command)
            on_turn(Turn(sample, command, reward, info, observation.text, done,
                         observation.feedback))
            turns.append({"command": command, "status": info.status, "reward": reward,
                          "code": observation.code, "feedback": observation.feedback.strip()})
        records.append({"task_id": task.task_id, "mode": "chain-of-edits", "sample": sample,
                        "passed": info.passed, "initial_code": task.buggy_code, "turns": turns})
    return records


def oracle_commands(task: RepairTask, samples: int, sandbox: SandboxPool,
                    on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
    """ORACLE, not a model: plays the known fix as commands in the real environment."""
    return played(task, sandbox, ["REPW 2 >>>- >>>+", "EXIT"], samples, on_turn)


def wrong_answers(task: RepairTask, samples: int, sandbox: SandboxPool,
                  on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
    """A policy whose every candidate still fails."""
    return played(task, sandbox, ["REPW 2 >>>- >>>*", "EXIT"], samples, on_turn)


def no_attempt(task: RepairTask, samples: int, sandbox: SandboxPool,
               on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
    pytest.fail("an attempt ran although the command line was refused")


def test_success_writes_beside_and_keeps_the_original(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    status = repair.main([str(code), "--tests", str(tests), "--samples", "2"],
                         attempt=oracle_commands)
    assert status == repair.EXIT_REPAIRED
    assert code.read_text() == BUGGY
    assert (code.parent / "add.repaired.py").read_text() == FIXED
    # each turn streams as it is played; the episodes are saved for show (issue 17)
    captured = capsys.readouterr()
    err = captured.err
    assert "the tests fail on add.py: trying 2 attempt(s)" in err
    assert "attempt 1, turn 1: REPW 2 >>>- >>>+  [applied, reward +1.0]" in err
    assert "attempt 2, turn 2: EXIT  [exit, reward +0.0]" in err
    assert "attempt 2 ended: sent EXIT; the tests pass" in err
    log = code.parent / "add.repair.jsonl"
    assert f"repaired; wrote {code.parent / 'add.repaired.py'}" in captured.out
    assert f"toolthink show {log}" in captured.out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["sample"] for r in records] == [0, 1]
    assert all(episode_problem(r) is None for r in records)
    assert show.main([str(log)]) == 0
    assert "REPW 2 >>>- >>>+" in capsys.readouterr().out


def test_failure_writes_nothing(files: tuple[Path, Path]) -> None:
    code, tests = files
    status = repair.main([str(code), "--tests", str(tests)], attempt=wrong_answers)
    assert status == repair.EXIT_NOT_REPAIRED
    assert code.read_text() == BUGGY
    # no code written; the episodes are
    assert sorted(p.name for p in code.parent.iterdir()) == [
        "add.py", "add.repair.jsonl", "test_add.py"]


def test_already_passing_writes_nothing(files: tuple[Path, Path]) -> None:
    code, tests = files
    code.write_text(FIXED)
    status = repair.main([str(code), "--tests", str(tests)], attempt=oracle_commands)
    assert status == repair.EXIT_ALREADY_PASSES
    assert not (code.parent / "add.repaired.py").exists()


def test_missing_files_are_usage_errors(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    assert repair.main([str(code.parent / "nope.py"), "--tests", str(tests)]) == repair.EXIT_USAGE
    assert repair.main([str(code), "--tests", str(code.parent / "x.py")]) == repair.EXIT_USAGE
    assert "--tests" in capsys.readouterr().err


def test_tiny_random_model_fails_and_writes_nothing(
    files: tuple[Path, Path], tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    before = code.stat().st_mtime_ns
    status = repair.main([str(code), "--tests", str(tests), "--model", str(tiny_model_dir),
                          "--samples", "2", "--max-turns", "2"])
    assert status == repair.EXIT_NOT_REPAIRED
    assert code.read_text() == BUGGY
    assert code.stat().st_mtime_ns == before
    assert not (code.parent / "add.repaired.py").exists()
    err = capsys.readouterr().err  # the model's turns, streamed by run_episodes' on_turn
    assert f"loading model {tiny_model_dir}" in err
    for attempt in (1, 2):  # a random model may EXIT at turn 1: each says how it ended
        assert f"attempt {attempt}, turn 1: " in err
        assert f"attempt {attempt} ended: " in err
    log = code.parent / "add.repair.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 2
    assert all(episode_problem(r) is None for r in records)
    assert records[0]["initial_feedback"]


def test_a_missing_gpu_is_a_usage_error(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, tests = files
    assert repair.main([str(code), "--tests", str(tests), "--device", "cuda"]) == repair.EXIT_USAGE
    assert "pass --device cpu" in capsys.readouterr().err
    assert not (code.parent / "add.repaired.py").exists()


def test_a_negative_temperature_is_a_usage_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    with pytest.raises(SystemExit) as info:
        repair.main([str(code), "--tests", str(tests), "--temperature", "-1"],
                    attempt=oracle_commands)
    assert info.value.code == repair.EXIT_USAGE
    assert "--temperature: '-1' must be a number >= 0" in capsys.readouterr().err
    assert not repair.repaired_path(code).exists()


@pytest.mark.parametrize(("name", "message"), [
    ("add.repaired.py", r"add.repaired.py exists \(from an earlier repair\?\): pass --overwrite"),
    # a file of the user's where the episodes log goes (issue 17)
    ("add.repair.jsonl", r"add.repair.jsonl exists and is not an earlier repair's episodes log: "
     "move it away"),
])
def test_an_existing_file_in_an_output_place_is_refused_before_any_attempt(
    files: tuple[Path, Path], name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    earlier = code.parent / name
    earlier.write_text("# kept\n")
    status = repair.main([str(code), "--tests", str(tests)], attempt=no_attempt)
    assert status == repair.EXIT_USAGE
    assert re.search(message, capsys.readouterr().err)
    assert earlier.read_text() == "# kept\n"


def test_a_dangling_link_in_the_output_place_is_refused_too(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    link = code.parent / "add.repaired.py"
    link.symlink_to(code.parent / "gone.py")  # exists() is False for it
    status = repair.main([str(code), "--tests", str(tests)], attempt=oracle_commands)
    assert status == repair.EXIT_USAGE
    assert f"{link} exists" in capsys.readouterr().err
    assert link.is_symlink()


def test_overwrite_replaces_an_existing_repaired_file(files: tuple[Path, Path]) -> None:
    code, tests = files
    earlier = code.parent / "add.repaired.py"
    earlier.write_text("# old\n")
    status = repair.main([str(code), "--tests", str(tests), "--overwrite"],
                         attempt=oracle_commands)
    assert status == repair.EXIT_REPAIRED
    assert earlier.read_text() == FIXED


def test_help_says_an_existing_output_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        repair.main(["--help"])
    assert "--overwrite" in capsys.readouterr().out


# --- issue 17: repair shows its work -------------------------------------------------------


def test_quiet_prints_only_the_result(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    assert repair.main([str(code), "--tests", str(tests), "-q"],
                       attempt=wrong_answers) == repair.EXIT_NOT_REPAIRED
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.count("\n") == 1
    assert (code.parent / "add.repair.jsonl").is_file()  # saved all the same


def test_an_earlier_log_is_replaced(files: tuple[Path, Path]) -> None:
    code, tests = files
    assert repair.main([str(code), "--tests", str(tests), "-q"],
                       attempt=wrong_answers) == repair.EXIT_NOT_REPAIRED
    assert repair.main([str(code), "--tests", str(tests), "-q", "--samples", "1"],
                       attempt=oracle_commands) == repair.EXIT_REPAIRED
    assert len((code.parent / "add.repair.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(("tests", "message"), [
    ("assert add(1, 2) == 3 +\n", r"test_add.py does not compile \(line 1: invalid syntax\)"),
    ("# nothing yet\n", r"test_add.py defines nothing: repair runs the tests file as plain "
     r"Python"),
    ("print(add(1, 2))\n", r"test_add.py holds no assert statement"),
    ("def test_add():\n    assert add(1, 2) == 3\n",  # pytest style: nothing calls it
     r"test_add.py ran no assertion .*call the test functions at its end"),
    ("from add import add\nassert add(1, 2) == 3\n",
     r"test_add.py stops at line 1 \(`from add import add`\) with ModuleNotFoundError: .*before "
     r"any assertion ran.* its names need no import"),
    ("data = load_cases()\nfor a, b, c in data:\n    assert add(a, b) == c\n",
     r"stops at line 1 \(`data = load_cases\(\)`\) with NameError"),
])
def test_tests_that_check_nothing_are_named_before_any_model_loads(
    files: tuple[Path, Path], tests: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests_path = files
    tests_path.write_text(tests)
    status = repair.main([str(code), "--tests", str(tests_path)], attempt=no_attempt)
    assert status == repair.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err
    assert sorted(p.name for p in code.parent.iterdir()) == ["add.py", "test_add.py"]


@pytest.mark.parametrize("tests", [
    "assert add(2, 2) == 4\nassert add(1, 2) == 3\n",  # fails on an assertion: fine
    "result = add('a', 1)\nassert result == 'a1'\n",  # the code raises first: the code's to fix
    "def test_add():\n    assert add(1, 2) == 3\n\ntest_add()\n",  # called pytest style
])
def test_tests_that_do_check_are_accepted(files: tuple[Path, Path], tests: str) -> None:
    code, tests_path = files
    tests_path.write_text(tests)
    assert repair.main([str(code), "--tests", str(tests_path), "-q"],
                       attempt=wrong_answers) == repair.EXIT_NOT_REPAIRED


def test_a_folder_that_is_no_adapter_is_named(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    folder = tmp_path / "runs"
    folder.mkdir()
    status = repair.main([str(code), "--tests", str(tests), "--adapter", str(folder)],
                         attempt=no_attempt)
    assert status == repair.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (f"toolthink repair: --adapter {str(folder)!r} is not a peft adapter (no "
                   "adapter_config.json in it): pass the output folder of toolthink-train sft "
                   "or rl\n")
