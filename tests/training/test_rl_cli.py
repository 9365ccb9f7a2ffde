"""``toolthink-train rl`` checks what it starts from before any model loads."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from toolthink.env import PROMPT_VERSION
from toolthink.training.rl_cli import main

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

CPU_CONFIG = str(Path(__file__).parents[2] / "configs" / "rl_cpu.yaml")


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: every check here runs before it."""
    def load(*args: object) -> None:
        pytest.fail("the model loaded before the inputs were checked")

    monkeypatch.setattr("toolthink.training.rl_cli.load_policy", load)


def test_an_adapter_of_another_prompt_version_is_refused(
    tmp_path: Path, no_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = tmp_path / "sft"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "toolthink_sft.json").write_text(json.dumps({"prompt_version": "old-prompt-0"}))
    assert main(["--config", CPU_CONFIG, "--adapter", str(adapter),
                 "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{adapter} was trained with prompt version 'old-prompt-0'" in err
    assert f"this toolthink renders {PROMPT_VERSION!r}" in err
    assert "rerun `toolthink-train sft`" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("model", ["./no-such-model", "/no/such/model", "~/no-such-model",
                                   "runs/sft/no-such-model"])
def test_a_model_path_that_does_not_exist_is_named_before_loading(
    model: str, tmp_path: Path, no_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", CPU_CONFIG, "--model_name_or_path", model,
                 "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"model_name_or_path={model!r} looks like a path but does not exist" in err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="bf16 is refused only on a CPU machine")
@pytest.mark.parametrize(("flags", "message"), [
    ([], "start from --config configs/rl_cpu.yaml or pass --bf16 false --use_cpu true"),
    (["--config", CPU_CONFIG, "--bf16", "true"],
     r"bf16=True, fp16=False on a CPU run: pass --bf16 false --fp16 false "
     r"\(configs/rl_cpu.yaml does\)"),
])
def test_bf16_on_cpu_names_the_cpu_config(
    flags: list[str], message: str, tmp_path: Path, no_model: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*flags, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
