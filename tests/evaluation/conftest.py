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
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from tests.tiny_models import tiny_llama
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
    return tiny_llama(len(tokenizer)).eval()


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
