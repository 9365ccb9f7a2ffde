"""The suite's warning filters hide only the known noise of our pinned dependencies."""

from __future__ import annotations

import warnings
from pathlib import Path

from peft import LoraConfig, get_peft_model
from trl.trainer.grpo_config import GRPOConfig
from trl.trainer.sft_config import SFTConfig

from tests.tiny_models import tiny_llama


def test_trl_configs_raise_no_future_warning_under_the_suite_filters(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        # After the suite's filters (pyproject.toml): record every other FutureWarning.
        warnings.filterwarnings("always", category=FutureWarning, append=True)
        SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
        GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not future


def test_the_filter_is_precise(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=FutureWarning, append=True)
        warnings.warn("`other_option` is deprecated and will be removed in v6.", FutureWarning,
                      stacklevel=1)
    assert len(caught) == 1  # another FutureWarning still shows


def test_peft_wrapping_raises_no_future_warning_under_the_suite_filters() -> None:
    model = tiny_llama(64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=FutureWarning, append=True)
        get_peft_model(model, LoraConfig(r=2, target_modules="all-linear"))
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not future
