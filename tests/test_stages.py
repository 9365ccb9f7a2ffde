"""The stage machinery of the long jobs: finished stages are reused, trainers resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from toolthink.stages import DONE_FILE, Stage, StageMismatchError, run_stages


class Recorder:
    """Runs stages by writing a file into their folder; fails the stage named in ``fail``."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, tuple[str, ...]]] = []
        self.fail: str | None = None

    def __call__(self, stage: Stage, argv: Sequence[str], label: str) -> int:
        self.ran.append((stage.title, tuple(argv)))
        stage.folder.mkdir(parents=True, exist_ok=True)
        if stage.title == self.fail:  # killed mid-stage: a checkpoint, no completion file
            (stage.folder / "checkpoint-2").mkdir(exist_ok=True)
            return 137
        (stage.folder / "output.txt").write_text("done")
        return 0


def plan(tmp_path: Path, steps: str = "4") -> list[Stage]:
    return [Stage("data", "m.data", ["--out", str(tmp_path / "data")], tmp_path / "data"),
            Stage("sft", "m.sft", ["--max_steps", steps], tmp_path / "sft", resumable=True),
            Stage("eval", "m.eval", ["--out", str(tmp_path / "eval")], tmp_path / "eval")]


def test_an_interrupted_job_reuses_finished_stages_and_resumes_the_trainer(
    tmp_path: Path,
) -> None:
    runner = Recorder()
    runner.fail = "sft"
    assert run_stages(plan(tmp_path), resume=True, runner=runner) == 137
    assert [title for title, _ in runner.ran] == ["data", "sft"]
    assert (tmp_path / "data" / DONE_FILE).is_file()
    assert not (tmp_path / "sft" / DONE_FILE).exists()

    runner.ran.clear()
    runner.fail = None
    assert run_stages(plan(tmp_path), resume=True, runner=runner) == 0
    assert runner.ran == [("sft", ("--max_steps", "4", "--resume_from_checkpoint", "true")),
                          ("eval", ("--out", str(tmp_path / "eval")))]
    done = json.loads((tmp_path / "sft" / DONE_FILE).read_text())
    assert done["argv"] == ["--max_steps", "4"]  # the stage's own argv, resume flags aside

    runner.ran.clear()
    assert run_stages(plan(tmp_path), resume=True, runner=runner) == 0
    assert runner.ran == []  # everything finished: nothing runs again


def test_an_interrupted_trainer_without_a_checkpoint_starts_over(tmp_path: Path) -> None:
    (tmp_path / "sft").mkdir()
    runner = Recorder()
    assert run_stages(plan(tmp_path)[1:2], resume=True, runner=runner) == 0
    assert runner.ran == [("sft", ("--max_steps", "4"))]


def test_a_stage_finished_with_other_settings_is_refused(tmp_path: Path) -> None:
    assert run_stages(plan(tmp_path), resume=True, runner=Recorder()) == 0
    with pytest.raises(StageMismatchError, match=(
            r"sft was finished by another command \(--max_steps 4\) than this run's "
            r"\(--max_steps 8\): use another --out, or delete")):
        run_stages(plan(tmp_path, steps="8"), resume=True, runner=Recorder())


def test_without_resume_every_stage_runs(tmp_path: Path) -> None:
    assert run_stages(plan(tmp_path), resume=False, runner=Recorder()) == 0
    runner = Recorder()
    assert run_stages(plan(tmp_path), resume=False, runner=runner) == 0
    assert [title for title, _ in runner.ran] == ["data", "sft", "eval"]


def test_command_is_what_a_user_types(tmp_path: Path) -> None:
    stage = Stage("sft", "toolthink.training.sft_cli", ["--demos", "a b"], tmp_path)
    assert stage.command() == "toolthink-train sft --demos 'a b'"
