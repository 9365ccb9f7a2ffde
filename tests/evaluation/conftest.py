"""Fixtures for evaluation: the embedded tokenizer and a tiny random model over its vocabulary.

The tiny model writes noise: the tests check the plumbing (records, scores,
files, exit statuses), never that a repair succeeds, except through the
oracle seams that are labelled as such.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from toolthink.training.embedded_model import load_embedded_tokenizer


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("TOOLTHINK_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("toolthink-cache")


@pytest.fixture(scope="session")
def tokenizer(embedded_cache: Path) -> PreTrainedTokenizerBase:
    return load_embedded_tokenizer(embedded_cache)


@pytest.fixture(scope="session")
def tiny_model(tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A random 1-layer Llama over the embedded vocabulary."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_model_dir(
    tiny_model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The tiny model saved as a folder, for the command lines' ``--model``."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
