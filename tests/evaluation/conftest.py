"""Fixtures for evaluation: the tiny random model saved as a folder.

The embedded tokenizer and the tiny model over its vocabulary come from
tests/conftest.py. The tiny model writes noise: the tests check the plumbing (records, scores,
files, exit statuses), never that a repair succeeds, except through the
oracle seams that are labelled as such.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase


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
