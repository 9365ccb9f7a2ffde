"""Silence the deprecation warnings our pinned dependencies raise at each other, and only those.

transformers 5.24 renamed ``gradient_checkpointing*`` to
``activation_checkpointing*`` (removal in v6). toolthink's flags and configs use
the new name (issue 17 counted 12 such FutureWarnings in a quick demo); what
is left comes from other packages' code, each filtered here by its exact
message and the module that warns:

- ``gradient_checkpointing`` option: TRL 1.16's ``SFTConfig`` and ``GRPOConfig``
  default it to True (trl/trainer/sft_config.py and grpo_config.py, "Defaults to
  True instead of False"), so a run that sets neither name warns.
- ``is_gradient_checkpointing``: peft 0.21.2 reads it on every LoRA wrap
  (peft/peft_model.py, ``PeftModel.__init__``: ``getattr(model,
  "is_gradient_checkpointing", True)``) and TRL 1.16 before each generation
  (trl/models/utils.py, ``_unwrap_model_for_generation``).
- ``gradient_checkpointing_disable`` / ``_enable``: TRL 1.16, the same
  ``_unwrap_model_for_generation`` around each GRPO generation.

The test suite filters the same (pyproject.toml ``filterwarnings``); drop each
once its package moves to the new names (tests/training/test_warnings.py).
"""

from __future__ import annotations

import warnings

__all__ = ["UPSTREAM_DEPRECATIONS", "silence_upstream_deprecations"]

UPSTREAM_DEPRECATIONS = (
    ("`gradient_checkpointing` is deprecated", "transformers.training_args"),
    ("`is_gradient_checkpointing` is deprecated", "transformers.modeling_utils"),
    ("`gradient_checkpointing_disable` is deprecated", "transformers.modeling_utils"),
    ("`gradient_checkpointing_enable` is deprecated", "transformers.modeling_utils"),
)
"""(message start, warning module) of each FutureWarning filtered (see the module docstring)."""


def silence_upstream_deprecations() -> None:
    """Ignore exactly the `UPSTREAM_DEPRECATIONS` FutureWarnings, for this process.

    Called by each command that loads a model (``toolthink eval``, ``repair``,
    ``toolthink-train sft`` and ``rl``) before it does; any other warning shows.
    """
    for message, module in UPSTREAM_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning,
                                module=module)
