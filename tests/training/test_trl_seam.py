"""The private TRL surface toolthink's trainers stand on, as it was when they were written.

`toolthink.training.rl_trainer.ChainOfEditsTrainer` overrides private ``GRPOTrainer``
methods, and both trainers append to ``trainer._metrics``. TRL may change any of
them in a minor release (pyproject.toml pins the tested minor). When a test
here fails, read the new TRL method, adapt toolthink's override, then record the
new signature below.
"""

from __future__ import annotations

import inspect

import pytest
import trl
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.sft_trainer import SFTTrainer

RL = "src/toolthink/training/rl_trainer.py"
ROLLOUT = "src/toolthink/training/rl_rollout.py"
SFT = "src/toolthink/training/sft_trainer.py"

# (class, method, toolthink's code that depends on it, signature when it was written: TRL 1.16)
SIGNATURES = [
    (GRPOTrainer, "_generate", RL, "(self, prompts: list)"),
    (GRPOTrainer, "_generate_and_score_completions", RL,
     "(self, inputs: list[dict[str, torch.Tensor | typing.Any]]) "
     "-> dict[str, torch.Tensor | typing.Any]"),
    (GRPOTrainer, "_compute_loss", RL, "(self, model, inputs)"),
    (GRPOTrainer, "_get_per_token_logps_and_entropies", RL,
     "(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, "
     "compute_entropy=False, compute_aux_loss=False, pixel_values=None, image_grid_thw=None, "
     "num_images=None, pixel_attention_mask=None, spatial_shapes=None, num_tiles=None, "
     "image_sizes=None, token_type_ids=None, mm_token_type_ids=None, image_position_ids=None) "
     "-> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]"),
    # the callers of the overrides: the buffered generation batch and the loss
    (GRPOTrainer, "_prepare_inputs", RL,
     "(self, generation_batch: dict[str, torch.Tensor | typing.Any]) "
     "-> dict[str, torch.Tensor | typing.Any]"),
    (GRPOTrainer, "compute_loss", RL,
     "(self, model, inputs, return_outputs=False, num_items_in_batch=None)"),
    (GRPOTrainer, "log", ROLLOUT,
     "(self, logs: dict[str, float], start_time: float | None = None) -> None"),
    (SFTTrainer, "compute_loss", SFT,
     "(self, model, inputs, return_outputs=False, num_items_in_batch=None)"),
    (SFTTrainer, "log", SFT,
     "(self, logs: dict[str, float], start_time: float | None = None) -> None"),
]

METRICS = 'self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}'

# (class, method, source line it must still contain, toolthink's code that relies on it, why)
SOURCE_LINES = [
    (GRPOTrainer, "__init__", METRICS,
     ROLLOUT, "the rollout appends its episode figures to trainer._metrics[mode]"),
    (SFTTrainer, "__init__", METRICS,
     SFT, "the token accuracy is appended to self._metrics[mode]"),
    (GRPOTrainer, "log", "for key, val in self._metrics[mode].items():",
     ROLLOUT, "what is appended to _metrics is averaged into the log line"),
    (GRPOTrainer, "_generate", "output = self.rollout_func(prompts, self)",
     ROLLOUT, "EpisodeRollout is called with the prompts and the trainer"),
    (GRPOTrainer, "_generate", 'tool_mask = extra_fields.pop("env_mask", None)',
     ROLLOUT, "the rollout's env_mask keeps environment tokens out of the loss"),
    (GRPOTrainer, "_generate_and_score_completions", "inp[key] = values[i]",
     RL, "the rollout's extra fields (each row's episode) reach the inputs"),
    (GRPOTrainer, "_compute_loss", 'advantages = inputs["advantages"]',
     RL, "per-turn advantages replace inputs['advantages'] as (B, C)"),
    (GRPOTrainer, "_compute_loss", "if advantages.dim() == 1:",
     RL, "TRL's loss takes (B, C) advantages as they are"),
]


@pytest.mark.parametrize(("cls", "name", "ours", "recorded"), SIGNATURES,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in SIGNATURES])
def test_overridden_trl_methods_keep_their_signatures(
        cls: type, name: str, ours: str, recorded: str) -> None:
    method = getattr(cls, name, None)
    assert method is not None, (
        f"TRL {trl.__version__} has no {cls.__name__}.{name}: toolthink's code in {ours} "
        f"overrides or calls it (written against TRL 1.16)")
    now = str(inspect.signature(method))
    assert now == recorded, (
        f"TRL {trl.__version__} changed {cls.__name__}.{name}'s signature: toolthink's "
        f"override in {ours} was written against {recorded}, TRL now has {now}")


@pytest.mark.parametrize(("cls", "name", "line", "ours", "why"), SOURCE_LINES,
                         ids=[f"{c.__name__}.{n}:{i}" for i, (c, n, *_) in enumerate(SOURCE_LINES)])
def test_trl_internals_toolthink_relies_on_are_still_there(
        cls: type, name: str, line: str, ours: str, why: str) -> None:
    source = inspect.getsource(getattr(cls, name))
    assert line in source, (
        f"TRL {trl.__version__}'s {cls.__name__}.{name} no longer contains {line!r}: "
        f"{ours} relies on it ({why}; written against TRL 1.16)")
