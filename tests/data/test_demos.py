"""Verified demonstrations from the embedded corpus."""

from __future__ import annotations

import json
import re

import pytest

from toolthink.data.demos import DemoConfig, build_demos
from toolthink.data.store import read_jsonl, write_demos
from toolthink.dsl import execute, parse_command
from toolthink.env import EnvConfig, RepairEnv
from toolthink.tasks import load_embedded_corpus
from toolthink.tasks.splits import mbpp_split, split_of
from toolthink.tool import CodeEditor, SandboxPool

PROBLEMS = load_embedded_corpus()[:6]
# A short timeout: some corruptions loop forever, and each such state costs it.
CONFIG = DemoConfig(per_problem=2, seed=3, env=EnvConfig(timeout=1.0))


@pytest.fixture(scope="module")
def demos(sandbox_pool: SandboxPool) -> object:
    return build_demos(PROBLEMS, CONFIG, pool=sandbox_pool)


def test_demonstrations_verify(demos: object) -> None:
    records = demos.records  # type: ignore[attr-defined]
    assert records
    for record in records:
        editor = CodeEditor(record["corrupted"])
        for text in record["commands"]:
            assert execute(parse_command(text), editor).ok
        assert editor.source == record["original"]
        assert record["commands"][-1] == "EXIT"
        assert len(record["observations"]) == len(record["commands"]) - 1
        assert sum(record["rewards"]) == 1.0  # fixed exactly once, EXIT at the end


def test_observations_are_what_the_environment_shows(
    demos: object, sandbox_pool: SandboxPool
) -> None:
    record = demos.records[0]  # type: ignore[attr-defined]
    problem = next(p for p in PROBLEMS if p.task_id == record["task_id"])
    env = RepairEnv(CONFIG.env, sandbox=sandbox_pool)
    first = env.reset(problem.with_bug(record["corrupted"]))
    assert (first.system, first.text) == (record["system"], record["prompt"])
    for text, expected in zip(record["commands"], record["observations"], strict=False):
        assert env.step(text)[0].text == expected


def test_rejections_are_counted_by_reason(demos: object) -> None:
    counts = demos.rejected  # type: ignore[attr-defined]
    assert set(counts) == {"no corruption", "duplicate", "corrupted code passes",
                           "replay differs", "repaired code fails", "detour passes"}
    assert counts["replay differs"] == 0
    assert demos.attempted == len(demos.records) + sum(counts.values())  # type: ignore[attr-defined]


def test_same_seed_same_demonstrations(demos: object, sandbox_pool: SandboxPool) -> None:
    again = build_demos(PROBLEMS, CONFIG, pool=sandbox_pool)
    assert again.records == demos.records  # type: ignore[attr-defined]


def test_written_as_jsonl_and_dataset(demos: object, tmp_path: object) -> None:
    out = write_demos(tmp_path, demos.records, {"n": len(demos.records)})  # type: ignore[arg-type, attr-defined]
    rows = list(read_jsonl(out / "demos.jsonl"))
    assert rows == list(demos.records)  # type: ignore[attr-defined]
    assert json.loads((out / "stats.json").read_text())["n"] == len(rows)
    import datasets  # noqa: PLC0415

    loaded = datasets.load_from_disk(str(out / "dataset"))
    assert sum(len(split) for split in loaded.values()) == len(rows)


@pytest.mark.parametrize(
    ("task_id", "split"),
    [("MBPP/3", "prompt"), ("MBPP/11", "test"), ("MBPP/510", "test"),
     ("MBPP/600", "validation"), ("MBPP/601", "train"), ("MBPP/974", "train")],
)
def test_mbpp_split_follows_upstream(task_id: str, split: str) -> None:
    assert mbpp_split(task_id) == split


def test_embedded_corpus_split_is_stable_and_holds_out_problems() -> None:
    splits = {p.task_id: split_of(p.task_id) for p in load_embedded_corpus()}
    assert set(splits.values()) == {"train", "test"}
    assert 5 <= sum(s == "test" for s in splits.values()) <= 20
    assert split_of("MBPP/700") == "train"
    assert splits == {p.task_id: split_of(p.task_id) for p in load_embedded_corpus()}


def test_cli_builds_a_folder(tmp_path: object) -> None:
    from toolthink.data.cli import main  # noqa: PLC0415

    out = tmp_path / "demos"  # type: ignore[operator]
    assert main(["demos", "--source", "embedded", "--limit", "3", "--kinds", "typo",
                 "delete line", "--timeout", "1", "--out", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["problems"] == 3
    assert stats["built"] == len(list(read_jsonl(out / "demos.jsonl")))
    assert stats["isolation"] in ("bwrap", "process")


def test_cli_names_the_missing_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolthink.data.cli import main  # noqa: PLC0415

    monkeypatch.delenv("TOOLTHINK_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["demos", "--source", "mbpp", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--data-dir" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--source", "mbpp", "--data-dir", "{tmp}/nowhere"], r"data folder '.*nowhere' .* is not a "
     "folder: pass the folder that holds mbxp_mbpp/"),
    (["--source", "mbpp", "--data-dir", "{file}"], r"data folder '.*file' .* is not a folder"),
    (["--source", "mbpp", "--data-dir", "{tmp}"], r"toolthink data demos: .*MBPP"),
    (["--out", "{file}"], r"--out '.*file' is a file, not a folder"),
    (["--out", "{file}/sub"], r"--out '.*file/sub' lies under '.*file', which is a file"),
    (["--per-problem", "0"], r"--per-problem: '0' must be an integer >= 1"),
    (["--min-edits", "0"], r"--min-edits: '0' must be an integer >= 1"),
    (["--min-edits", "3", "--max-edits", "2"], r"--min-edits 3 is above --max-edits 2: lower "
     "--min-edits or raise --max-edits"),
    (["--limit", "0"], r"--limit: '0' must be an integer >= 1"),
])
def test_cli_bad_options_exit_2_naming_the_value(
    flags: list[str], message: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolthink.data.cli import main  # noqa: PLC0415

    afile = tmp_path / "file"  # type: ignore[operator]
    afile.write_text("x")
    flags = [f.replace("{tmp}", str(tmp_path)).replace("{file}", str(afile)) for f in flags]
    out = ["--out", str(tmp_path / "out")]  # type: ignore[operator]
    with pytest.raises(SystemExit) as info:
        main(["demos", *out, *flags])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # type: ignore[operator]


def test_progress_is_logged_without_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    import logging  # noqa: PLC0415
    import time  # noqa: PLC0415

    from toolthink.data.cli import _LogProgress  # noqa: PLC0415

    report = _LogProgress(total=100, start=time.perf_counter())
    with caplog.at_level(logging.INFO, logger="toolthink.data"):
        for _ in range(100):
            report(1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 20  # every 5 %
    assert lines[0].startswith("5/100 candidates (5 %)")
    assert lines[-1].startswith("100/100 candidates (100 %)")
