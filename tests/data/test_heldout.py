"""The fixed held-out evaluation set: never a training problem, one file, typed bug kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolthink.data.cli import main
from toolthink.data.demos import ALL_KINDS
from toolthink.data.heldout import (
    HELDOUT_FIELDS,
    HeldoutFormatError,
    heldout_problems,
    heldout_tasks,
    read_heldout,
    write_heldout,
)
from toolthink.evaluation.datasets import load_eval_tasks
from toolthink.jsonl import JsonlError
from toolthink.tasks import load_embedded_corpus, load_mbpp
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool


def test_embedded_file_round_trips_and_is_the_heldout_dataset(
    tmp_path: Path, sandbox_pool: SandboxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOLTHINK_DATA_DIR", raising=False)  # the embedded set, not MBPP's
    out = tmp_path / "sets" / "heldout.jsonl"
    assert main(["heldout", "--out", str(out)]) == 0
    tasks = read_heldout(out)
    assert tasks == load_eval_tasks("heldout", None, sandbox_pool)
    assert tasks == heldout_tasks(None, sandbox_pool)  # deterministic: a fixed seed
    train_ids = {p.task_id for p in load_embedded_corpus() if split_of(p.task_id) == "train"}
    assert train_ids
    assert not train_ids & {t.task_id for t in tasks}
    for task in tasks:
        assert 1 <= task.n_edits <= 5
        assert len(task.provenance.bug_kinds) == task.n_edits
        assert set(task.provenance.bug_kinds) <= set(ALL_KINDS)
    row = json.loads(out.read_text().splitlines()[0])
    assert set(row) == set(HELDOUT_FIELDS)
    assert isinstance(row["n_edits"], int)
    assert isinstance(row["bug_kinds"], list)


def test_a_bad_line_is_named(tmp_path: Path, sandbox_pool: SandboxPool) -> None:
    path = write_heldout(tmp_path / "h.jsonl", heldout_tasks(None, sandbox_pool, limit=2))
    row = json.loads(path.read_text().splitlines()[0])
    path.write_text(json.dumps({**row, "n_edits": "2"}) + "\n")
    with pytest.raises(JsonlError, match=r"h.jsonl:1 bug_kinds=.*n_edits='2'"):
        read_heldout(path)


def test_a_file_without_typed_kinds_names_the_rebuild(
    tmp_path: Path, sandbox_pool: SandboxPool
) -> None:
    # Before the kinds were typed fields they were free text ("synthetic bug: typo"):
    # such a file is refused with the command that rebuilds it, never parsed.
    path = write_heldout(tmp_path / "h.jsonl", heldout_tasks(None, sandbox_pool, limit=2))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    old = [{**{k: v for k, v in row.items() if k not in ("bug_kinds", "n_edits")},
            "notes": "synthetic bug: " + ", ".join(row["bug_kinds"])} for row in rows]
    path.write_text("".join(json.dumps(row) + "\n" for row in old))
    with pytest.raises(HeldoutFormatError, match=r"h.jsonl:1 bug_kinds=None.*"
                       r"rebuild the file with `toolthink data heldout --out "):
        read_heldout(path)
    tasks = heldout_tasks(None, sandbox_pool, limit=2)
    assert read_heldout(write_heldout(path, tasks)) == tasks  # rebuilt, it reads again


def test_mbpp_heldout_has_300_test_problems_and_no_training_one(
    sandbox_pool: SandboxPool, data_dir: Path,
) -> None:
    problems = heldout_problems(data_dir)
    assert {split_of(p.task_id) for p in problems} == {"test"}
    tasks = heldout_tasks(data_dir, sandbox_pool)
    assert len(tasks) >= 300
    train_ids = {p.task_id for p in load_mbpp(data_dir) if split_of(p.task_id) == "train"}
    assert len(train_ids) > 300
    assert not train_ids & {t.task_id for t in tasks}
    reports = sandbox_pool.run_batch([(t.buggy_code, t.tests) for t in tasks], timeout=5.0)
    assert not any(r.passed for r in reports)
