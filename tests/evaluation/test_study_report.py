"""The study's report: rows per model and mode, intervals, figures, unfinished runs left out."""

from __future__ import annotations

import json
from pathlib import Path

from toolthink.evaluation.journal import JOURNAL_FILE, EvalJournal
from toolthink.evaluation.metrics import summarize
from toolthink.evaluation.study_report import EvalRun, write_study_report


def fake_run(folder: Path, modes: dict[str, list[bool]], kinds: dict[str, str]) -> None:
    entries = {}
    for mode, outcomes in modes.items():
        by_task = {f"t{i}": [passed] for i, passed in enumerate(outcomes)}
        solved = sum(outcomes)
        entries[mode] = {
            "pass_at_k": summarize(by_task, [1], kinds),
            "stats": {"tokens_per_task": 20.0, "tokens_per_solved_task":
                      20.0 * len(outcomes) / solved if solved else None,
                      "mean_turns": 3.0, "exit_share": 0.5 if mode == "chain-of-edits" else None,
                      "exit_failing_share": 0.25 if mode == "chain-of-edits" else None},
            "turn_budget": ([{"turns": float(b), "tests_pass": 0.1 * b, "repaired": 0.05 * b}
                             for b in (1, 2, 3)] if mode == "chain-of-edits" else []),
        }
    folder.mkdir(parents=True)
    with (folder / "episodes.jsonl").open("w") as f:
        for mode, outcomes in modes.items():
            for i, passed in enumerate(outcomes):
                f.write(json.dumps({"task_id": f"t{i}", "mode": mode, "passed": passed,
                                    "n_edits": 1 + i % 3}) + "\n")
    (folder / "results.json").write_text(json.dumps(
        {"settings": {"tasks": len(next(iter(modes.values())))}, "modes": entries}))


def test_report_holds_each_model_with_intervals(tmp_path: Path) -> None:
    outcomes = [i < 5 for i in range(48)]
    kinds = {f"t{i}": ("typo" if i % 2 else "mixed") for i in range(48)}
    fake_run(tmp_path / "base", {"chain-of-edits": [False] * 48, "direct": [False] * 48}, kinds)
    fake_run(tmp_path / "coe", {"chain-of-edits": outcomes}, kinds)
    runs = [EvalRun("base", "heldout", tmp_path / "base"),
            EvalRun("coe-sft", "heldout", tmp_path / "coe"),
            EvalRun("direct-sft", "heldout", tmp_path / "never-ran")]
    report = write_study_report(tmp_path, runs, heldout="heldout", command="toolthink study",
                                settings={"seed": 0}).read_text()
    assert "| base / CoE | heldout | 48 | 0.0 [0.0, 7.4] | 20 | - | 3.00 | 50 | 25 |" in report
    assert "| base / direct | heldout | 48 | 0.0 [0.0, 7.4] | 20 | - | 3.00 | - | - |" in report
    assert "| coe-sft | heldout | 48 | 10.4 [4.5, 22.2] | 20 | 192 | 3.00 | 50 | 25 |" in report
    assert "| direct-sft |" not in report  # not finished: no row, but named as missing
    assert "Not evaluated (the study stopped before): direct-sft on heldout." in report
    assert "| typo | 24 |" in report
    # t0..t4 passed: edits 1 (t0, t3), 2 (t1, t4), 3 (t2), of 16 tasks each
    assert "| 1 | 16 | 0.0 [0.0, 19.4] | 0.0 [0.0, 19.4] | 12.5 [3.5, 36.0] |" in report
    for name in ("pass1_by_model", "pass1_by_kind", "turn_budget", "tokens_per_solved"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0
        assert f"figures/{name}.png" in report


def test_an_evaluation_under_way_gives_a_partial_row_from_its_journal(tmp_path: Path) -> None:
    journal = EvalJournal(tmp_path / "coe" / JOURNAL_FILE,
                          {"task_ids": [f"t{i}" for i in range(10)]})
    journal.add("chain-of-edits", [
        {"task_id": f"t{i}", "sample": 0, "passed": i < 2, "bug_kind": "typo",
         "generated_tokens": 10, "turns": [{}, {}], "exited": True} for i in range(4)], 8.0)
    runs = [EvalRun("coe-sft", "heldout", tmp_path / "coe"),
            EvalRun("base", "heldout", tmp_path / "never-ran")]
    report = write_study_report(tmp_path, runs, heldout="heldout", command="toolthink study",
                                settings={}).read_text()
    # 2 of the 4 tasks played so far: 50 % [15.0, 85.0], EXIT on failing code in 2 of 4
    assert ("| coe-sft (partial: 4/10) | heldout | 4 | 50.0 [15.0, 85.0] | 10 | 20 | 2.00 | 100 "
            "| 50 |") in report
    assert "Not evaluated (the study stopped before): base on heldout." in report
