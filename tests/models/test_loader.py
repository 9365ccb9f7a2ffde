"""Model loading: the adapter's recorded prompt version is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolthink.env import PROMPT_VERSION
from toolthink.models.devices import CPU_BF16_ENV, DeviceError
from toolthink.models.loader import (
    ModelLoadError,
    PromptVersionError,
    check_prompt_version,
    load_model,
)


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
    (tmp_path / "config.json").write_text("{}")  # a whole model's folder, given as adapter
    with pytest.raises(ModelLoadError, match=r"not a peft adapter .*pass it as --model"):
        load_model("embedded", str(tmp_path))
    with pytest.raises(ModelLoadError, match="--model"):
        load_model(str(tmp_path / "missing-model"))


@pytest.mark.parametrize("config", [None, "{}"])
def test_a_folder_that_is_no_model_is_a_named_error(tmp_path: Path, config: str | None) -> None:
    if config is not None:  # a config.json transformers cannot place: ValueError inside
        (tmp_path / "config.json").write_text(config)
    with pytest.raises(ModelLoadError, match=r"cannot load --model .*a model folder"):
        load_model(str(tmp_path))


@pytest.mark.parametrize(("dtype", "native", "want"), [
    ("auto", "0", torch.float32), ("auto", "1", torch.bfloat16), ("float32", "1", torch.float32),
    ("bfloat16", "1", torch.bfloat16)])
def test_load_model_places_the_weights(tiny_model_dir: Path, dtype: str, native: str,
                                       want: torch.dtype,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # auto: the CPU
    monkeypatch.setenv(CPU_BF16_ENV, native)  # the CPU probe's answer
    model, _ = load_model(str(tiny_model_dir), device="auto", dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {want}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert not model.training


def test_load_model_refuses_a_missing_gpu(tiny_model_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"--device cuda asked for a GPU .* pass --device cpu"):
        load_model(str(tiny_model_dir), device="cuda")


def test_lora_settings_come_from_trl() -> None:
    from toolthink.models.lora import lora_config  # noqa: PLC0415

    everything = lora_config(r=16, alpha=32, dropout=0.05, targets=["all-linear"])
    assert everything.target_modules == "all-linear"  # TRL's ModelConfig unwraps one name
    assert (everything.r, everything.lora_alpha, everything.task_type) == (16, 32, "CAUSAL_LM")
    some = lora_config(r=4, alpha=8, dropout=0.0, targets=["q_proj", "v_proj"])
    assert set(some.target_modules) == {"q_proj", "v_proj"}


def test_training_loads_stay_in_train_mode_on_the_cpu(tiny_model_dir: Path) -> None:
    model, tokenizer = load_model(str(tiny_model_dir), device=None, dtype=torch.float32)
    assert model.training
    assert tokenizer.pad_token is not None


def _save_adapter(model: torch.nn.Module, folder: Path, base: str | None) -> Path:
    """A LoRA adapter of ``model`` saved in ``folder``, recording ``base`` as its base model."""
    from peft import get_peft_model  # noqa: PLC0415

    from toolthink.models.lora import lora_config  # noqa: PLC0415

    peft_model = get_peft_model(model, lora_config(r=2, alpha=4, dropout=0.0,
                                                   targets=["q_proj", "v_proj"]))
    peft_model.save_pretrained(folder)
    path = folder / "adapter_config.json"
    recorded = json.loads(path.read_text())
    recorded["base_model_name_or_path"] = base
    path.write_text(json.dumps(recorded))
    return folder


def test_an_adapter_of_its_base_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    from tests.tiny_models import tiny_llama  # noqa: PLC0415

    vocab = json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    adapter = _save_adapter(tiny_llama(vocab), tmp_path / "adapter", str(tiny_model_dir))
    model, _ = load_model(str(tiny_model_dir), str(adapter), device="cpu", dtype="float32")
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_an_adapter_of_another_base_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    from tests.tiny_models import tiny_llama  # noqa: PLC0415
    from toolthink.models.loader import AdapterMismatchError  # noqa: PLC0415

    vocab = json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    adapter = _save_adapter(tiny_llama(vocab), tmp_path / "other",
                            "HuggingFaceTB/SmolLM2-360M-Instruct")
    with pytest.raises(AdapterMismatchError,
                       match=r"trained on 'HuggingFaceTB/SmolLM2-360M-Instruct', not on .*tiny"):
        load_model(str(tiny_model_dir), str(adapter), device="cpu", dtype="float32")


def test_an_adapter_of_another_shape_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    from toolthink.models.loader import AdapterMismatchError  # noqa: PLC0415

    config = json.loads((tiny_model_dir / "config.json").read_text())
    wider = LlamaForCausalLM(LlamaConfig(
        vocab_size=config["vocab_size"], hidden_size=48, intermediate_size=64,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    adapter = _save_adapter(wider, tmp_path / "wide", None)  # records no base: shapes decide
    with pytest.raises(AdapterMismatchError, match=r"does not fit the model .*size mismatch"):
        load_model(str(tiny_model_dir), str(adapter), device="cpu", dtype="float32")
