"""``toolthink-train rl`` checks what it starts from before any model loads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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
