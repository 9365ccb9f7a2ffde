"""``toolthink study``: every stage parses, and an interrupted study resumes without redoing."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from toolthink.stages import DONE_FILE
from toolthink.study import BUDGETS, MODELS, eval_runs, main, stages


@pytest.mark.parametrize("budget", list(BUDGETS))
@pytest.mark.parametrize("with_data", [False, True])
def test_every_stage_parses(tmp_path: Path, budget: str, with_data: bool) -> None:
    data_dir = str(tmp_path) if with_data else None  # RL's parser checks that it exists
    plan = stages(tmp_path, budget=BUDGETS[budget], data_dir=data_dir)
    assert len(plan) == 6 + len(MODELS) * (3 if data_dir else 1)
    assert len({stage.folder for stage in plan}) == len(plan)
    for stage in plan:
        parser = importlib.import_module(stage.module).make_parser()
        if hasattr(parser, "parse_args_and_config"):  # TRL's parser: dataclasses validate
            assert parser.parse_args_and_config(list(stage.argv))
        else:
            parser.parse_args(list(stage.argv))


def test_both_sfts_get_the_same_budget_and_each_model_its_mode(tmp_path: Path) -> None:
    by_title = {s.title: s.argv for s in stages(tmp_path, budget=BUDGETS["full"],
                                                 data_dir="/data")}
    coe = by_title["SFT on Chain-of-Edits demonstrations"]
    direct = by_title["SFT on direct demonstrations (same steps and batch)"]
    differ = [(a, b) for a, b in zip(coe, direct, strict=True) if a != b]
    assert differ == [(str(tmp_path / "demos-coe"), str(tmp_path / "demos-direct")),
                      (str(tmp_path / "sft-coe"), str(tmp_path / "sft-direct"))]
    modes = {title.split(": ")[1].split(" on ")[0]: argv[argv.index("--mode") + 1]
             for title, argv in by_title.items() if title.startswith("evaluation")}
    assert modes == {"base": "both", "coe-sft": "coe", "coe-sft-rl": "coe",
                     "direct-sft": "direct"}


@pytest.mark.slow
def test_quick_study_on_the_tiny_model_resumes_after_an_interruption(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOOLTHINK_DATA_DIR", raising=False)
    out = tmp_path / "study"
    argv = ["--budget", "quick", "--model", str(tiny_model_dir), "--out", str(out)]
    plan = stages(out, budget=BUDGETS["quick"], data_dir=None, model=str(tiny_model_dir))
    # Stopped after the Chain-of-Edits SFT and its held-out score (a kill between stages).
    assert main([*argv, "--stop-after", "4"]) == 0
    finished = {s.title: (s.folder / DONE_FILE).stat().st_mtime_ns for s in plan[:4]}
    assert all(not (s.folder / DONE_FILE).exists() for s in plan[4:])
    assert not (out / "report.md").exists()
    # a report of what finished so far: the CoE-SFT row, the rest listed as not evaluated
    assert main([*argv, "--report-only"]) == 0
    partial = (out / "report.md").read_text()
    assert "| coe-sft | heldout |" in partial
    assert "Not evaluated (the study stopped before): base on heldout, " in partial
    assert all(not (s.folder / DONE_FILE).exists() for s in plan[4:])  # ran nothing

    assert main(argv) == 0
    for stage in plan[:4]:  # not rerun: their completion files are the first run's
        assert (stage.folder / DONE_FILE).stat().st_mtime_ns == finished[stage.title]
    assert all((s.folder / DONE_FILE).is_file() for s in plan)
    sft = json.loads((out / "sft-direct" / "toolthink_sft.json").read_text())
    assert sft["training_format"] == "direct"
    report = (out / "report.md").read_text()
    for name, _, _ in MODELS:
        assert name in report
    assert "base / CoE" in report
    assert "base / direct" in report
    assert "Pass rate against the turn budget" in report
    assert "held-out check: every finished evaluation (4) scored the file's 2 tasks" in report
    assert "Not evaluated" not in report
    assert (out / "figures" / "pass1_by_model.png").stat().st_size > 0
    assert (out / "figures" / "turn_budget.png").stat().st_size > 0
    for _, _, folder in eval_runs(out, None):
        assert (folder / "results.json").is_file()
