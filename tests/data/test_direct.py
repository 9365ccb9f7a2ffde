"""Direct-answer demonstrations: the same bugs as Chain-of-Edits, the fixed program as answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.data.cli import main
from toolthink.data.demos import DemoConfig, build_demos
from toolthink.data.direct import direct_demo, direct_demos, format_of
from toolthink.data.store import read_jsonl
from toolthink.env import EnvConfig, TrainingFormat
from toolthink.env.direct import DIRECT_PROMPT_VERSION, DIRECT_SYSTEM_PROMPT, extract_code
from toolthink.tasks import load_embedded_corpus
from toolthink.tool import SandboxPool

PROBLEMS = load_embedded_corpus()[:6]
CONFIG = DemoConfig(per_problem=2, seed=3, env=EnvConfig(timeout=1.0))


@pytest.fixture(scope="module")
def coe(sandbox_pool: SandboxPool) -> list[dict[str, object]]:
    return list(build_demos(PROBLEMS, CONFIG, pool=sandbox_pool).records)


def test_each_direct_target_passes_and_the_bug_fails(
    coe: list[dict[str, object]], sandbox_pool: SandboxPool
) -> None:
    direct = direct_demos(coe)
    assert len(direct) == len(coe) > 0
    answers = [extract_code(str(r["commands"][0])) for r in direct]  # type: ignore[index]
    jobs = [(code, str(r["tests"])) for code, r in zip(answers, direct, strict=True)]
    jobs += [(str(r["corrupted"]), str(r["tests"])) for r in direct]
    reports = sandbox_pool.run_batch(jobs, timeout=5.0)
    assert all(report.passed for report in reports[:len(direct)])
    assert not any(report.passed for report in reports[len(direct):])


def test_direct_twin_keeps_the_problem_and_the_bug(coe: list[dict[str, object]]) -> None:
    record = coe[0]
    twin = direct_demo(record)
    for key in ("id", "task_id", "split", "kinds", "n_edits", "original", "corrupted", "tests"):
        assert twin[key] == record[key]
    assert format_of(record) is TrainingFormat.CHAIN_OF_EDITS
    assert format_of(twin) is TrainingFormat.DIRECT
    assert twin["prompt_version"] == DIRECT_PROMPT_VERSION
    assert twin["system"] == DIRECT_SYSTEM_PROMPT
    assert str(record["corrupted"]).rstrip() in str(twin["prompt"])
    assert len(twin["commands"]) == 1  # type: ignore[arg-type]
    assert twin["observations"] == []
    assert twin["rewards"] == []
    with pytest.raises(ValueError, match="already direct"):
        direct_demo(twin)


def test_cli_builds_and_converts_the_same_direct_demos(tmp_path: Path) -> None:
    common = ["--source", "embedded", "--limit", "3", "--seed", "3", "--timeout", "1"]
    assert main(["demos", *common, "--out", str(tmp_path / "coe")]) == 0
    assert main(["demos", *common, "--format", "direct", "--out", str(tmp_path / "built")]) == 0
    assert main(["demos", "--format", "direct", "--from", str(tmp_path / "coe"),
                 "--out", str(tmp_path / "converted")]) == 0
    built = read_jsonl(tmp_path / "built" / "demos.jsonl")
    assert built == read_jsonl(tmp_path / "converted" / "demos.jsonl")
    assert [r["id"] for r in built] == [r["id"] for r in read_jsonl(tmp_path / "coe" /
                                                                    "demos.jsonl")]
    assert {r["training_format"] for r in built} == {"direct"}


def test_from_needs_direct_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demos", "--from", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "pass --format direct too" in capsys.readouterr().err


def test_direct_twin_of_a_detoured_demo_drops_the_detour(coe: list[dict[str, object]]) -> None:
    detoured = {**coe[0], "untrained": [1], "detour": {"turn": 1, "kind": "wrong line",
                                                       "rejected": True}}
    twin = direct_demo(detoured)
    assert "untrained" not in twin
    assert "detour" not in twin
    assert twin == direct_demo(coe[0])
