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
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
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
])
def test_bf16_without_use_cpu_names_the_cpu_config(
    flags: list[str], message: str, tmp_path: Path, no_model: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*flags, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


def _adapter(tmp_path: Path, config: str) -> str:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(config)
    return str(folder)


def _model_folder(tmp_path: Path, name: str) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    if name:
        (folder / name).write_text("{}")
    return str(folder)


@pytest.mark.parametrize(("flags", "message"), [
    (lambda t: ["--adapter", _adapter(t, "{}")], "adapter_config.json without peft_type"),
    (lambda t: ["--adapter", _adapter(t, "{not json")], "unreadable adapter_config.json"),
    (lambda t: ["--model_name_or_path", _model_folder(t, "")], "holds no config.json: pass"),
    (lambda t: ["--model_name_or_path", _model_folder(t, "adapter_config.json")],
     r"holds no config.json \(an adapter folder: pass it as --adapter"),
    (lambda t: ["--model_name_or_path", CPU_CONFIG], "is a file: pass a model folder"),
    (lambda t: ["--max_problems", "0"], "max_problems=0 must be >= 1"),
    (lambda t: ["--temperature", "0"], r"temperature=0.0: GRPO .* pass a value > 0"),
    (lambda t: ["--resume_from_checkpoint", "true"], "holds no checkpoint-N folder yet"),
    (lambda t: ["--resume_from_checkpoint", str(t / "nope")], "is not a folder: pass a "
     "checkpoint-N folder"),
    (lambda t: ["--output_dir", "/proc/toolthink-out"], "cannot be created"),
])
def test_bad_inputs_are_named_before_loading(
    flags: object, message: str, tmp_path: Path, no_model: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--config", CPU_CONFIG, "--output_dir", str(tmp_path / "out"), *flags(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # a refused run creates no output folder


def test_a_config_that_is_not_yaml_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            no_model: None) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 1\n: : : [\n")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--config {str(bad)!r} is not valid YAML at line 2" in err
    assert "Traceback" not in err


def test_a_model_that_fails_to_load_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a hub id that is not in the (offline) cache: only loading can tell
    assert main(["--config", CPU_CONFIG, "--output_dir", str(tmp_path / "out"),
                 "--model_name_or_path", "no-such-org/no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "model_name_or_path='no-such-org/no-such-model' could not be loaded (" in err
    assert "Traceback" not in err


def test_no_failing_bug_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    no_model: None,
) -> None:
    # every synthetic bug of these problems happened to pass its tests
    monkeypatch.setattr("toolthink.training.rl.easy_tasks", lambda *args, **kwargs: [])
    assert main(["--config", CPU_CONFIG, "--output_dir", str(tmp_path / "out"),
                 "--max_problems", "2", "--tasks_per_problem", "1"]) == 2
    err = capsys.readouterr().err
    assert ("none of the synthetic bugs made from 2 problem(s) (edits=1, tasks_per_problem=1, "
            "task_seed=0) failed its tests, so RL has no task: raise tasks_per_problem or "
            "max_problems") in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("native", "flags", "want"), [
    ("1", [], True), ("0", [], False), ("1", ["--bf16", "false"], False),
])
def test_the_cpu_config_leaves_bf16_to_the_probe(
    native: str, flags: list[str], want: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolthink.models.devices import CPU_BF16_ENV  # noqa: PLC0415
    from toolthink.training.rl_cli import make_parser  # noqa: PLC0415

    monkeypatch.setenv(CPU_BF16_ENV, native)
    (config,) = make_parser().parse_args_and_config(["--config", CPU_CONFIG, *flags])
    assert config.bf16 is want
    assert config.policy_dtype() == torch.float32  # autocast keeps float32 master weights
