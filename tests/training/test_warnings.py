"""The suite's warning filters hide only the known noise of our pinned dependencies."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from peft import LoraConfig, get_peft_model
from trl.trainer.grpo_config import GRPOConfig
from trl.trainer.sft_config import SFTConfig

from tests.tiny_models import tiny_llama
from toolthink.models.deprecations import silence_upstream_deprecations
from toolthink.pipeline import stages


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


# --- issue 17: no warning caused by toolthink's own arguments ---------------------------------


def _future_warnings(action: Callable[[], object]) -> list[str]:
    """The FutureWarnings ``action`` raises, with every filter (the suite's too) removed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        action()
    return [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


@pytest.mark.parametrize("module", ["toolthink.training.sft_cli", "toolthink.training.rl_cli"])
def test_the_demo_stages_and_cpu_configs_use_no_deprecated_option(
    module: str, tmp_path: Path
) -> None:
    parser = importlib.import_module(module).make_parser()
    plan = {s.module: list(s.argv) for s in stages(tmp_path, quick=True, data_dir=None)}
    config = "configs/sft_cpu.yaml" if "sft" in module else "configs/rl_cpu.yaml"
    root = Path(__file__).resolve().parents[2]
    for argv in (plan[module], ["--config", str(root / config), "--output_dir", str(tmp_path)]):
        assert _future_warnings(lambda argv=argv: parser.parse_args_and_config(argv)) == []


def test_the_upstream_filters_hide_only_upstream_deprecations(tmp_path: Path) -> None:
    def trl_default_and_peft_wrap() -> None:
        silence_upstream_deprecations()
        SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)  # TRL's default
        get_peft_model(tiny_llama(64), LoraConfig(r=2, target_modules="all-linear"))
        warnings.warn("`other_option` is deprecated and will be removed in v6.", FutureWarning,
                      stacklevel=1)

    assert _future_warnings(trl_default_and_peft_wrap) == [
        "`other_option` is deprecated and will be removed in v6."]
