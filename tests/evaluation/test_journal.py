"""An interrupted evaluation resumes from its journal and scores as an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolthink.env import EnvConfig
from toolthink.evaluation import cli
from toolthink.evaluation.datasets import load_eval_tasks
from toolthink.evaluation.evaluator import EvalConfig, evaluate
from toolthink.evaluation.journal import EvalJournal, JournalMismatchError
from toolthink.tool import SandboxPool

KEY = {"model": "m", "max_turns": 2, "task_ids": ["a", "b"]}


def _record(task_id: str, sample: int = 0, passed: bool = False) -> dict[str, object]:
    return {"task_id": task_id, "sample": sample, "passed": passed, "turns": []}


def test_a_journal_reads_back_what_was_added(tmp_path: Path) -> None:
    path = tmp_path / "out" / "journal.jsonl"
    journal = EvalJournal(path, KEY)
    assert journal.done("direct") == {}
    journal.add("direct", [_record("a"), _record("b", passed=True)], seconds=3.0)
    again = EvalJournal(path, KEY)
    assert again.done("direct") == {("a", 0): _record("a"), ("b", 0): _record("b", passed=True)}
    assert again.done("chain-of-edits") == {}
    assert again.seconds("direct") == pytest.approx(3.0)
    again.remove()
    assert not path.exists()


def test_a_line_cut_by_the_interruption_is_played_again(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    EvalJournal(path, KEY).add("direct", [_record("a"), _record("b")], seconds=2.0)
    text = path.read_text()
    path.write_text(text[: len(text) - 20])  # killed in the middle of the last line
    journal = EvalJournal(path, KEY)
    assert list(journal.done("direct")) == [("a", 0)]
    journal.add("direct", [_record("b")], seconds=1.0)  # appends after a clean line
    assert set(EvalJournal(path, KEY).done("direct")) == {("a", 0), ("b", 0)}


@pytest.mark.parametrize(("content", "message"), [
    ('{"mode": "direct"}\n', "is not an evaluation journal"),
    ('{"toolthink_eval_journal": 1, "key": {}}\nnot json\n{"x": 1}\n', "is damaged"),
])
def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path, content: str,
                                                 message: str) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(content)
    with pytest.raises(JournalMismatchError, match=message):
        EvalJournal(path, KEY)


def test_a_journal_of_other_settings_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    EvalJournal(path, KEY).add("direct", [_record("a")], seconds=1.0)
    with pytest.raises(JournalMismatchError, match=r"max_turns=2, this one has max_turns=10"):
        EvalJournal(path, {**KEY, "max_turns": 10})


class _Stop(Exception):  # noqa: N818 - the interruption, as a kill between batches
    pass


def test_an_interrupted_evaluation_resumes_and_scores_the_same(
    tiny_model, tokenizer, sandbox_pool: SandboxPool, tmp_path: Path
) -> None:
    tasks = load_eval_tasks("embedded", None, sandbox_pool, limit=3)
    config = EvalConfig(max_new_tokens=8, direct_max_new_tokens=8, batch=1,
                        env=EnvConfig(max_turns=2))
    whole = evaluate(tiny_model, tokenizer, tasks, sandbox=sandbox_pool, config=config)

    def stop_after_one_batch(mode: str, done: int, seconds: float) -> None:
        if done:
            raise _Stop

    journal = EvalJournal(tmp_path / "journal.jsonl", KEY)
    with pytest.raises(_Stop):
        evaluate(tiny_model, tokenizer, tasks, sandbox=sandbox_pool, config=config,
                 progress=stop_after_one_batch, journal=journal)
    assert len(journal.done("chain-of-edits")) == 1
    calls: list[tuple[str, int, float]] = []
    resumed = evaluate(tiny_model, tokenizer, tasks, sandbox=sandbox_pool, config=config,
                       journal=EvalJournal(tmp_path / "journal.jsonl", KEY),
                       progress=lambda *call: calls.append(call))
    # the journal's attempt is counted at once, then the two left are played
    assert [n for mode, n, _ in calls if mode == "chain-of-edits"] == [0, 1, 1, 1]
    assert [n for mode, n, _ in calls if mode == "direct"] == [0, 1, 1, 1]
    for before, after in zip(whole, resumed, strict=True):
        assert json.loads(json.dumps(before.records)) == json.loads(json.dumps(after.records))
        assert before.summary == after.summary
    assert all(r.seconds > 0 for r in resumed)


def test_the_cli_resumes_from_its_out_folder_and_removes_the_journal(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def argv(out: Path, *more: str) -> list[str]:
        return ["--model", str(tiny_model_dir), "--dataset", "embedded", "--limit", "2",
                "--mode", "direct", "--direct-max-new-tokens", "8", "--batch", "1",
                "--device", "cpu", "--dtype", "float32", "--no-figures", "--out", str(out),
                *more]

    assert cli.main(argv(tmp_path / "whole")) == 0
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert not (tmp_path / "whole" / cli.JOURNAL_FILE).exists()  # written in full

    def interrupt() -> None:  # killed after the first batch is journaled
        add = EvalJournal.add

        def add_then_stop(self: EvalJournal, *args: object, **kwargs: object) -> None:
            add(self, *args, **kwargs)  # type: ignore[arg-type]
            raise _Stop

        with monkeypatch.context() as patch:
            patch.setattr(EvalJournal, "add", add_then_stop)
            with pytest.raises(_Stop):
                cli.main(argv(out))

    out = tmp_path / "eval"
    interrupt()
    assert not (out / "results.json").exists()
    capsys.readouterr()
    assert cli.main(argv(out)) == 0
    assert "resuming from" in capsys.readouterr().out
    again = json.loads((out / "results.json").read_text())
    assert again["modes"]["direct"]["pass_at_k"] == whole["modes"]["direct"]["pass_at_k"]
    episodes = [(tmp_path / d / "episodes.jsonl").read_text() for d in ("whole", "eval")]
    assert episodes[0] == episodes[1]
    assert not (out / cli.JOURNAL_FILE).exists()
    # another setting with the journal of these: refused, naming the setting
    interrupt()
    assert cli.main(argv(out, "--direct-max-new-tokens", "9")) == 2
    assert "direct_max_new_tokens=8, this one has direct_max_new_tokens=9" in (
        capsys.readouterr().err)
