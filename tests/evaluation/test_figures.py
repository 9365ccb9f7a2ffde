"""The evaluation figures say their values: labelled bars, integer axes, the turn limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.evaluation.evaluator import ModeResult
from toolthink.evaluation.figures import (
    bar_label,
    pass_at_k_figure,
    plot_pass_at_k,
    plot_turns,
    turns_figure,
)


def _result(mode: str, turns: list[int], passed: list[bool], pass1: float) -> ModeResult:
    records = tuple({"task_id": f"t{i}", "mode": mode, "sample": 0, "passed": p,
                     "initial_code": "", "turns": [{}] * n}
                    for i, (n, p) in enumerate(zip(turns, passed, strict=True)))
    summary = {"all": {"tasks": float(len(turns)), "pass@1": pass1},
               "off-by-one": {"tasks": 1.0, "pass@1": pass1}}
    return ModeResult(mode=mode, summary=summary, mean_turns=1.0, mean_generated_tokens=1.0,
                      seconds=1.0, records=records)


def _labels(ax: object) -> list[str]:
    return [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("value", "text"), [(0.0, "0"), (50.0, "50"), (100 / 3, "33.3"),
                                             (99.96, "100")])
def test_bar_label(value: float, text: str) -> None:
    assert bar_label(value) == text


def test_an_all_zero_pass_at_k_chart_labels_every_bar_0() -> None:
    results = [_result("chain-of-edits", [3, 3], [False, False], 0.0),
               _result("direct", [1, 1], [False, False], 0.0)]
    fig = pass_at_k_figure(results, (1,))
    (ax,) = fig.axes
    assert _labels(ax) == ["0", "0", "0", "0"]  # 2 modes x (all, off-by-one)
    assert [t for t in ax.get_yticks() if t <= 100] == [0, 20, 40, 60, 80, 100]


def test_turns_have_integer_ticks_counts_and_the_turn_limit() -> None:
    results = [_result("chain-of-edits", [1, 3, 3, 3], [True, False, False, True], 0.5)]
    fig = turns_figure(results, max_turns=3)
    (ax,) = fig.axes
    assert list(ax.get_xticks()) == [0, 1, 2, 3]
    assert all(float(t).is_integer() for t in ax.get_yticks())
    # repaired: one at 1 turn, one at 3; not repaired: two at 3
    assert sorted(t for t in _labels(ax) if t) == ["1", "1", "2"]
    (limit,) = ax.get_lines()
    assert limit.get_xdata()[0] == pytest.approx(3.45)
    assert "turn limit (3)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_files_are_written(tmp_path: Path) -> None:
    results = [_result("chain-of-edits", [2], [True], 1.0)]
    assert plot_pass_at_k(results, (1,), tmp_path / "p.png").stat().st_size > 0
    turns = plot_turns(results, tmp_path / "t.png", max_turns=2)
    assert turns is not None
    assert turns.stat().st_size > 0
    assert plot_turns([_result("direct", [1], [True], 1.0)], tmp_path / "none.png") is None
