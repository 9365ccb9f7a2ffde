"""Model loading: the adapter's recorded prompt version is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolthink.env import PROMPT_VERSION
from toolthink.evaluation.models import (
    ModelLoadError,
    PromptVersionError,
    check_prompt_version,
    load_model,
)
from toolthink.training.devices import DeviceError


def test_prompt_version_checked_when_recorded(tmp_path: Path) -> None:
    assert check_prompt_version(tmp_path) is None  # records none: not checked
    (tmp_path / "toolthink_sft.json").write_text(
        json.dumps({"toolthink": {"data": {"prompt_version": PROMPT_VERSION}}}))
    assert check_prompt_version(tmp_path) == PROMPT_VERSION
    (tmp_path / "toolthink_rl.json").write_text(json.dumps({"prompt_version": "old-prompt-0"}))
    with pytest.raises(PromptVersionError, match="old-prompt-0"):
        check_prompt_version(tmp_path)


def test_missing_adapter_and_model_name_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="--adapter"):
        load_model("embedded", str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="--model"):
        load_model(str(tmp_path / "missing-model"))


@pytest.mark.parametrize(("dtype", "want"), [("auto", torch.float32), ("float32", torch.float32),
                                             ("bfloat16", torch.bfloat16)])
def test_load_model_places_the_weights(tiny_model_dir: Path, dtype: str, want: torch.dtype,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # auto: the CPU
    model, _ = load_model(str(tiny_model_dir), device="auto", dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {want}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert not model.training


def test_load_model_refuses_a_missing_gpu(tiny_model_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"--device cuda asked for a GPU .* pass --device cpu"):
        load_model(str(tiny_model_dir), device="cuda")
