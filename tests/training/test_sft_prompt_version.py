"""An SFT output folder records its prompt version, and `toolthink eval` checks it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from toolthink.data.store import write_demos
from toolthink.env import PROMPT_VERSION
from toolthink.models.loader import PromptVersionError, check_prompt_version, load_model
from toolthink.training.sft_cli import main

from .sft_support import tiny_run_flags


@pytest.fixture(scope="module")
def run_dir(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("sft") / "run"
    assert main([*tiny_run_flags(tiny_model_dir, demos[0], out), "--max_steps", "1"]) == 0
    return out


def test_output_folder_records_the_prompt_version(run_dir: Path, tiny_model_dir: Path) -> None:
    config = json.loads((run_dir / "toolthink_sft.json").read_text())
    assert config["prompt_version"] == PROMPT_VERSION
    assert f"Format: chain-of-edits; prompt version: `{PROMPT_VERSION}`" in (
        (run_dir / "README.md").read_text())
    assert check_prompt_version(run_dir) == PROMPT_VERSION
    model, _ = load_model(str(tiny_model_dir), adapter=str(run_dir))  # as `toolthink eval`
    assert not model.training


def test_folder_with_another_prompt_version_is_refused(
    run_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(run_dir, stale)
    path = stale / "toolthink_sft.json"
    config = json.loads(path.read_text())
    config["prompt_version"] = "toolthink-prompt-0"
    path.write_text(json.dumps(config))
    with pytest.raises(PromptVersionError, match=(
        r"was trained with prompt version 'toolthink-prompt-0' but this toolthink renders "
        rf"'{PROMPT_VERSION}': evaluate it with the toolthink version it was trained with, "
        r"or retrain it")):
        load_model(str(tiny_model_dir), adapter=str(stale))


def test_demos_of_another_prompt_version_are_refused_before_training(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = [{**r, "prompt_version": "toolthink-prompt-0"} for r in demos[1]]
    write_demos(tmp_path / "demos", old, {"count": len(old)})
    out = tmp_path / "run"
    assert main(tiny_run_flags(tiny_model_dir, tmp_path / "demos", out)) == 2
    err = capsys.readouterr().err
    assert "rendered with prompt version 'toolthink-prompt-0'" in err
    assert "rebuild them with `toolthink data demos --out DIR`" in err
    assert not (out / "adapter_model.safetensors").exists()


def test_demos_mixing_prompt_versions_are_refused(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mixed = [demos[1][0], {**demos[1][1], "prompt_version": "toolthink-prompt-0"}]
    write_demos(tmp_path / "demos", mixed, {"count": len(mixed)})
    assert main(tiny_run_flags(tiny_model_dir, tmp_path / "demos", tmp_path / "run")) == 2
    assert "mix prompt versions" in capsys.readouterr().err
