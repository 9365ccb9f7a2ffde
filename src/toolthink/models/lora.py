"""LoRA settings, built by TRL's own ``ModelConfig`` and ``get_peft_config``.

SFT and RL both train a LoRA adapter (Rainone et al., arXiv 2507.05065: rank 16
on all linear layers). TRL's scripts turn their ``ModelConfig`` options into a
peft ``LoraConfig`` with ``trl.get_peft_config``; toolthink does the same, so
one function decides the adapter (``task_type="CAUSAL_LM"``, ``bias="none"``,
a single target such as ``all-linear`` passed as a string: TRL 1.16).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peft import LoraConfig

__all__ = ["lora_config"]


def lora_config(
    *, r: int, alpha: int, dropout: float, targets: str | Sequence[str]
) -> LoraConfig:
    """A peft ``LoraConfig`` for a causal LM, through ``trl.get_peft_config``.

    Args:
        r: LoRA rank (paper: 16).
        alpha: LoRA alpha (the update is scaled by ``alpha / r``).
        dropout: Dropout probability on the adapter's input, in [0, 1).
        targets: Module names given an adapter, or ``"all-linear"`` (every
            linear layer but the LM head: the paper's setting).

    Returns:
        The ``LoraConfig`` TRL's scripts would build from the same options.
    """
    from peft import LoraConfig  # noqa: PLC0415 - keeps `import toolthink.models` light
    from trl.trainer.model_config import ModelConfig  # noqa: PLC0415
    from trl.trainer.utils import get_peft_config  # noqa: PLC0415

    names = [targets] if isinstance(targets, str) else list(targets)
    options = ModelConfig(use_peft=True, lora_r=r, lora_alpha=alpha, lora_dropout=dropout,
                          lora_target_modules=names, lora_task_type="CAUSAL_LM")
    config = get_peft_config(options)
    assert isinstance(config, LoraConfig)  # use_peft=True
    return config
