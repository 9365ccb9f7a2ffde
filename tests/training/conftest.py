"""Fixtures for the training layer: SFT inputs.

The tokenizer, the embedded model, its grammar constraint, the tiny model, the
data folder and the conversion cache are shared with the rollout, model and
evaluation tests: tests/conftest.py defines them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument
from transformers import PreTrainedTokenizerBase

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


@pytest.fixture
def loss_inputs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each ``ChainOfEditsTrainer._compute_loss`` call receives: advantages and ids."""
    from toolthink.training.rl_trainer import ChainOfEditsTrainer  # noqa: PLC0415

    seen: list[dict[str, Any]] = []
    compute_loss = ChainOfEditsTrainer._compute_loss

    def spy(self: Any, model: Any, inputs: dict[str, Any]) -> Any:
        seen.append({k: inputs[k].detach().clone() for k in ("advantages", "completion_ids")})
        return compute_loss(self, model, inputs)

    monkeypatch.setattr(ChainOfEditsTrainer, "_compute_loss", spy)
    return seen
