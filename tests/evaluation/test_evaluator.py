"""Evaluation end to end with a tiny random model: records, scores and the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from toolthink.env import EnvConfig, StepInfo, StepStatus
from toolthink.evaluation import cli
from toolthink.evaluation.datasets import load_eval_tasks
from toolthink.evaluation.eval_progress import ProgressLines
from toolthink.evaluation.evaluator import EvalConfig, evaluate
from toolthink.evaluation.show import main as show_main
from toolthink.rollout.episodes import Turn
from toolthink.tool import SandboxPool

SHOW_KEYS = {"task_id", "mode", "sample", "passed", "initial_code", "turns"}
TURN_KEYS = {"command", "status", "reward", "code", "feedback"}


def test_both_modes_score_and_record_every_attempt(
    tiny_model, tokenizer, sandbox_pool: SandboxPool
) -> None:
    tasks = load_eval_tasks("embedded", None, sandbox_pool, limit=2)
    config = EvalConfig(samples=2, ks=(1, 2), temperature=1.0, max_new_tokens=12,
                        direct_max_new_tokens=8, batch=3, env=EnvConfig(max_turns=2))
    calls: list[tuple[str, int, float]] = []
    turns: list[tuple[str, Turn]] = []
    results = evaluate(tiny_model, tokenizer, tasks, sandbox=sandbox_pool, config=config,
                       progress=lambda *call: calls.append(call),
                       on_turn=lambda mode, turn: turns.append((mode, turn)))
    assert [r.mode for r in results] == ["chain-of-edits", "direct"]
    # progress counts each mode's attempts on the table's own clock (issue 17: a line
    # said 178 s for a mode the table timed at 36 s: it counted from the first mode)
    for result in results:
        mine = [(n, s) for mode, n, s in calls if mode == result.mode]
        assert [n for n, _ in mine] == [0, 3, 1]  # started, then batches of 3
        assert [s for _, s in mine] == sorted(s for _, s in mine)
        assert mine[-1][1] <= result.seconds
    # every Chain-of-Edits episode reports its turns, its last one done
    assert {mode for mode, _ in turns} == {"chain-of-edits"}
    assert sum(turn.done for _, turn in turns) == 2 * len(tasks)
    for result in results:
        assert len(result.records) == 2 * len(tasks)
        assert result.summary["all"]["tasks"] == len(tasks)
        assert set(result.summary["all"]) >= {"pass@1", "pass@2"}
        for record in result.records:
            assert set(record) >= SHOW_KEYS
            assert all(set(turn) >= TURN_KEYS for turn in record["turns"])
        assert sorted(r["sample"] for r in result.records) == [0, 0, 1, 1]
    coe = results[0]
    assert 1 <= coe.mean_turns <= 2
    assert coe.stats["attempts"] == 4
    assert coe.stats["exit_share"] is not None
    assert [point["turns"] for point in coe.turn_budget] == [1.0, 2.0]
    assert results[1].stats["exit_share"] is None  # direct answers have no EXIT
    assert results[1].turn_budget == ()
    row = coe.summary["all"]
    assert row["pass@1_low"] <= row["pass@1"] <= row["pass@1_high"]
    for record in coe.records:  # only an applied command changes the code
        code = record["initial_code"]
        for turn in record["turns"]:
            assert turn["status"] in ("applied", "rejected", "malformed", "exit")
            if turn["status"] != "applied":
                assert turn["code"] == code
            code = turn["code"]


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="raise --samples or lower --k"):
        EvalConfig(samples=1, ks=(1, 4))
    with pytest.raises(ValueError, match="choose from"):
        EvalConfig(modes=("nope",))


def test_cli_writes_results_and_episodes_show_replays(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    status = cli.main(["--model", str(tiny_model_dir), "--dataset", "embedded", "--limit", "1",
                       "--samples", "2", "--k", "1,2", "--mode", "both", "--max-turns", "1",
                       "--max-new-tokens", "8", "--direct-max-new-tokens", "8",
                       "--device", "cpu", "--dtype", "float32", "--out", str(out)])
    assert status == 0
    captured = capsys.readouterr()
    text = captured.out
    for word in ("chain-of-edits", "direct", "pass@2"):
        assert word in text
    # off a terminal: a line per mode start, per ended episode, per batch (issue 17)
    for line in ("chain-of-edits: started (2 attempts)", "chain-of-edits: episode 2/2 ",
                 "chain-of-edits: 2/2 attempts done (", "direct: 2/2 attempts done ("):
        assert line in captured.err
    results = json.loads((out / "results.json").read_text())
    assert set(results["modes"]) == {"chain-of-edits", "direct"}
    assert results["settings"]["samples"] == 2
    assert results["settings"]["placement"] == "cpu, float32"
    coe = results["modes"]["chain-of-edits"]
    assert set(coe["stats"]) >= {"tokens_per_task", "tokens_per_solved_task", "exit_share"}
    assert {"pass@1_low", "pass@1_high", "pass@2_low"} <= set(coe["pass_at_k"]["all"])
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert show_main([str(out / "episodes.jsonl")]) == 0
    assert (out / "pass_at_k.png").stat().st_size > 0
    assert (out / "turns.png").stat().st_size > 0
    assert "<td>chain-of-edits</td>" in (out / "report.html").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--dataset", "quixbugs"], "--data-dir DIR or set TOOLTHINK_DATA_DIR"),
    (["--dataset", "quixbugs", "--data-dir", "/nonexistent/x"], "is not a folder"),
    (["--samples", "1", "--k", "1,4"], "raise --samples or lower --k"),
    (["--samples", "2", "--temperature", "0"], "--temperature > 0"),
    (["--device", "cuda:0"], "--device cuda:0 asked for a GPU .* pass --device cpu"),
])
def test_cli_errors(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(cli.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2  # usage errors exit 2, as in `toolthink repair`
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(("argv", "message"), [
    (["--out", "{file}"], r"--out '.*file' is a file, not a folder"),
    (["--out", "{file}/sub"], r"--out '.*file/sub' lies under '.*file', which is a file"),
    (["--adapter", "{tmp}/no-adapter"], r"--adapter '.*no-adapter' is missing, not a folder: "
     "pass the output folder of SFT or RL"),
    # a folder that is no adapter: named before peft's 41-line traceback (issue 17)
    (["--adapter", "{tmp}"], r"--adapter '.*' is not a peft adapter \(no adapter_config.json "
     r"in it\): pass the output folder of toolthink-train sft or rl"),
    (["--temperature", "-1"], r"--temperature: '-1' must be a number >= 0"),
])
def test_bad_paths_and_values_exit_2_before_the_model_loads(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{file}", str(tmp_path / "file")).replace("{tmp}", str(tmp_path))
            for a in argv]

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded before the arguments were checked")

    monkeypatch.setattr("toolthink.models.loader.load_model", no_model)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(("argv", "flag"), [(["--device", "gpu"], "--device 'gpu' is not a device"),
                                            (["--dtype", "half"], "--dtype")])
def test_bad_device_or_dtype_is_a_usage_error(argv: list[str], flag: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "a,b", "", "1,-2"])
def test_bad_k_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--k", bad])
    assert info.value.code == 2
    assert "--k" in capsys.readouterr().err


def test_a_model_that_cannot_load_exits_2_like_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["--model", str(tmp_path / "no-model"), "--limit", "1", "--mode", "coe",
                       "--device", "cpu", "--out", str(tmp_path / "out")])
    assert status == 2
    assert "cannot load --model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_progress_lines_report_each_mode_on_its_own_clock() -> None:
    lines = ProgressLines(total=16)
    assert lines.attempts("chain-of-edits", 0, 0.0) == "chain-of-edits: started (16 attempts)\n"
    assert lines.attempts("chain-of-edits", 8, 142.0) == (
        "chain-of-edits: 8/16 attempts done (142 s in this mode)\n")
    assert lines.status().startswith("chain-of-edits: 8/16 attempts done, playing turn 1 (")
    lines.attempts("direct", 0, 0.0)
    assert lines.attempts("direct", 8, 36.0) == "direct: 8/16 attempts done (36 s in this mode)\n"
    assert lines.status().startswith("direct: 8/16 attempts done, generating answers (")


def test_each_bar_counts_from_its_modes_start() -> None:
    import io  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from toolthink.evaluation.eval_progress import eval_progress  # noqa: PLC0415

    console = Console(file=io.StringIO())
    with Progress(console=console) as bar:
        progress, _, _ = eval_progress(bar, console, 4, ("chain-of-edits", "direct"), 8)
        progress("chain-of-edits", 0, 0.0)
        assert [task.started for task in bar.tasks] == [True, False]  # direct's clock waits
        progress("direct", 0, 0.0)
        assert [task.started for task in bar.tasks] == [True, True]


def test_progress_lines_say_how_each_episode_ended() -> None:
    lines = ProgressLines(total=4)
    lines.attempts("chain-of-edits", 0, 0.0)
    info = StepInfo(turn=3, status=StepStatus.APPLIED, passed=False, solved=False, failures=1,
                    malformed=0, rejected=0, truncated=True, command="DELL 1")
    assert lines.turn_played("chain-of-edits", Turn(0, "DELL 1", -0.5, info, "", False, "")) is None
    line = lines.turn_played("chain-of-edits", Turn(1, "DELL 1", -0.5, info, "", True, ""))
    assert line is not None
    assert line.startswith("chain-of-edits: episode 2/4 hit the turn limit after 3 turn(s), "
                           "tests fail (")


EXAMPLE_TASKS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tasks.jsonl"


def test_cli_evaluates_a_users_own_tasks_file(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    status = cli.main(["--model", str(tiny_model_dir), "--tasks", str(EXAMPLE_TASKS),
                       "--limit", "2", "--mode", "coe", "--max-turns", "1",
                       "--max-new-tokens", "8", "--device", "cpu", "--out", str(out),
                       "--no-figures"])
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["dataset"] == "tasks"
    assert results["settings"]["tasks_file"] == str(EXAMPLE_TASKS)
    summary = results["modes"]["chain-of-edits"]["pass_at_k"]
    assert summary["all"]["tasks"] == 2
    assert set(summary) == {"all", "wrong value", "missing case"}  # the file's bug kinds
    ids = [json.loads(line)["task_id"] for line in (out / "episodes.jsonl").open()]
    assert ids == ["clamp", "count-vowels"]


@pytest.mark.parametrize(("content", "extra", "message"), [
    ('{"id": "a", "tests": "assert 1"}\n', [],
     r"--tasks: .*mine.jsonl:1 field 'buggy_code' must be a non-empty string"),
    ('{"id": "a", "buggy_code": "x = 1", "tests": "assert x == 1"}\n', [],
     r"mine.jsonl:1 \(id 'a'\): the buggy code already passes its tests"),
    ("", ["--dataset", "embedded"], r"--tasks .* and --dataset embedded both name the tasks"),
])
def test_a_bad_tasks_file_exits_2_before_the_model_loads(
    content: str, extra: list[str], message: str, *, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(content)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded before the tasks were checked")

    monkeypatch.setattr("toolthink.models.loader.load_model", no_model)
    try:
        status = cli.main(["--tasks", str(path), "--device", "cpu", "--out",
                           str(tmp_path / "out"), *extra])
    except SystemExit as e:
        status = e.code
    assert status == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("ends", "note"), [
    (["turn limit", "token budget"], True),  # 3.00 turns that no model chose: say so
    (["turn limit", "exit"], False),
])
def test_the_table_explains_turns_no_episode_chose(ends: list[str], note: bool) -> None:
    from rich.console import Console  # noqa: PLC0415

    from toolthink.evaluation.evaluator import ModeResult  # noqa: PLC0415
    from toolthink.evaluation.report import results_table  # noqa: PLC0415

    records = tuple({"task_id": "t", "end": end, "turns": [{}] * 3} for end in ends)
    result = ModeResult(mode="chain-of-edits", summary={"all": {"tasks": 1, "pass@1": 0.0}},
                        mean_turns=3.0, mean_generated_tokens=30.0, seconds=36.0,
                        records=records)
    assert result.exit_rate == (0.0 if note else 0.5)
    console = Console(record=True, width=200)
    console.print(results_table([result], (1,), title="t", max_turns=3))
    text = " ".join(console.export_text().split())  # the caption wraps at the table width
    assert ("No Chain-of-Edits episode sent EXIT: each ran to the turn limit (3) or the token "
            "budget" in text) is note
    assert "seconds in this mode" in text
