"""RL and SFT curves: fewer than 3 points are a markdown table, 3 or more a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.training.rl_log import plot_curves
from toolthink.training.sft_report import plot_loss_curve

PNG_MAGIC = b"\x89PNG"


def rl_records(steps: int) -> list[dict[str, float]]:
    return [{"step": float(s), "reward": -0.5 + 0.1 * s, "pass_rate": 0.25, "turns": 2.0,
             "malformed_rate": 0.0, "sampled_tokens": 30.0, "time/generation": 1.5,
             "time/sandbox": 0.2, "time/training": 3.0, "loss": 0.01} for s in range(1, steps + 1)]


def table_rows(path: Path) -> list[list[str]]:
    """The cells of each body row of a markdown table file."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


@pytest.mark.parametrize("steps", [1, 2])
def test_rl_runs_of_one_or_two_steps_get_a_table(tmp_path: Path, steps: int) -> None:
    written = plot_curves(rl_records(steps), tmp_path / "curves.png")
    assert written == tmp_path / "curves.md"
    assert not (tmp_path / "curves.png").exists()
    header = written.read_text().splitlines()[2]
    assert header.startswith("| step | reward | pass_rate |")
    rows = table_rows(written)
    assert [r[0] for r in rows] == [str(s) for s in range(1, steps + 1)]
    assert rows[0][1] == "-0.4"  # the step's reward, as recorded


def test_rl_runs_of_three_steps_get_a_curve(tmp_path: Path) -> None:
    written = plot_curves(rl_records(3), tmp_path / "curves.png")
    assert written == tmp_path / "curves.png"
    assert written.read_bytes()[:4] == PNG_MAGIC
    assert not (tmp_path / "curves.md").exists()


def test_sft_losses_of_two_steps_are_a_table_with_eval_beside_train(tmp_path: Path) -> None:
    history = [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.25},
               {"step": 2, "eval_loss": 2.75}]
    written = plot_loss_curve(history, tmp_path / "loss_curve.png")
    assert written == tmp_path / "loss_curve.md"
    assert table_rows(written) == [["1", "2.5", "-"], ["2", "2.25", "2.75"]]
    assert not (tmp_path / "loss_curve.png").exists()


def test_sft_losses_of_three_steps_are_a_curve(tmp_path: Path) -> None:
    history = [{"step": s, "loss": 3.0 - s} for s in (1, 2, 3)]
    written = plot_loss_curve(history, tmp_path / "loss_curve.png")
    assert written is not None
    assert written.read_bytes()[:4] == PNG_MAGIC


def test_no_loss_writes_nothing(tmp_path: Path) -> None:
    assert plot_loss_curve([{"step": 1, "learning_rate": 1e-4}], tmp_path / "c.png") is None
    assert list(tmp_path.iterdir()) == []
