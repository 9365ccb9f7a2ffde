"""SFT on direct-answer demonstrations: the same trainer, the folder records the format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolthink.data.direct import direct_demos
from toolthink.data.store import write_demos
from toolthink.env import FormatMismatchError, TrainingFormat
from toolthink.env.direct import DIRECT_PROMPT_VERSION
from toolthink.models.loader import check_prompt_version, load_model
from toolthink.training.sft_cli import main

from .sft_support import tiny_run_flags


@pytest.fixture(scope="module")
def direct_run(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    folder = tmp_path_factory.mktemp("direct")
    write_demos(folder / "demos", direct_demos(demos[1]), {"count": len(demos[1])})
    out = folder / "run"
    flags = tiny_run_flags(tiny_model_dir, folder / "demos", out)
    assert main([*flags, "--max_steps", "2", "--eval_episodes", "2"]) == 0
    return out


def test_direct_run_records_its_format(direct_run: Path, tiny_model_dir: Path) -> None:
    config = json.loads((direct_run / "toolthink_sft.json").read_text())
    assert config["training_format"] == "direct"
    assert config["prompt_version"] == DIRECT_PROMPT_VERSION
    assert "whole\nfixed program at once" in (direct_run / "README.md").read_text()
    metrics = json.loads((direct_run / "metrics.json").read_text())
    assert metrics["global_step"] == 2
    assert "eval_episodes" not in metrics  # the Chain-of-Edits hook is skipped for direct
    assert check_prompt_version(direct_run, formats=("direct",)) == DIRECT_PROMPT_VERSION
    model, _ = load_model(str(tiny_model_dir), adapter=str(direct_run), formats=("direct",))
    assert not model.training


def test_direct_adapter_is_refused_for_chain_of_edits(
    direct_run: Path, tiny_model_dir: Path
) -> None:
    with pytest.raises(FormatMismatchError, match=(
            r"was trained on direct answers but is used for chain-of-edits: evaluate it with "
            r"--mode direct")):
        load_model(str(tiny_model_dir), adapter=str(direct_run))


def test_eval_of_a_direct_adapter_in_coe_mode_exits_2(
    direct_run: Path, tiny_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from toolthink.evaluation.cli import main as eval_main  # noqa: PLC0415

    status = eval_main(["--model", str(tiny_model_dir), "--adapter", str(direct_run),
                        "--mode", "coe", "--limit", "1", "--device", "cpu",
                        "--out", str(tmp_path / "eval")])
    assert status == 2
    assert ("trained on direct answers but is used for chain-of-edits: evaluate it with "
            "--mode direct") in capsys.readouterr().err
    assert not (tmp_path / "eval" / "results.json").exists()


def test_eval_in_both_modes_runs_the_other_mode_on_the_base_model(
    direct_run: Path, tiny_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The demo evaluates its Chain-of-Edits adapter with --mode both: the mode the
    # adapter was not trained on runs with the adapter off, and the results say so.
    from toolthink.evaluation.cli import main as eval_main  # noqa: PLC0415

    status = eval_main(["--model", str(tiny_model_dir), "--adapter", str(direct_run),
                        "--mode", "both", "--limit", "1", "--max-turns", "1", "--device",
                        "cpu", "--out", str(tmp_path / "eval")])
    assert status == 0
    assert "chain-of-edits: " in capsys.readouterr().out
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["settings"]["modes_on_base_model"] == ["chain-of-edits"]
    assert set(results["modes"]) == {"chain-of-edits", "direct"}


def test_coe_adapter_is_refused_for_direct(tmp_path: Path) -> None:
    (tmp_path / "toolthink_sft.json").write_text(json.dumps(
        {"prompt_version": "toolthink-prompt-1", "training_format": "chain-of-edits"}))
    with pytest.raises(FormatMismatchError, match="--mode coe"):
        check_prompt_version(tmp_path, formats=(TrainingFormat.DIRECT,))


def test_demos_mixing_formats_are_refused(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mixed = [demos[1][0], *direct_demos(demos[1][1:2])]
    write_demos(tmp_path / "demos", mixed, {"count": len(mixed)})
    assert main(tiny_run_flags(tiny_model_dir, tmp_path / "demos", tmp_path / "run")) == 2
    assert "mix training formats ['chain-of-edits', 'direct']" in capsys.readouterr().err
