"""``SFTTrainer`` with the model's own loss, over the logits of trained positions only.

TRL 1.16 routes the SFT loss through a chunked LM-head path that was 2.2x
slower on CPU than the model's own cross-entropy for a 49k vocabulary
(measured; /work/shared/FIELD-NOTES.md). ``--model_loss false`` restores TRL's path.

Only the model's command tokens are trained (the labels are ``-100`` on the
prompt and the observations), yet a plain forward pass projects every position
onto the 49,152-token vocabulary, and the cross-entropy reads all of those
logits: about a fifth of a step's work on the embedded model (issue 15). The
model's own ``logits_to_keep`` (transformers' ``slice_logits_to_keep``, a
boolean ``(B, T)`` mask) projects only the positions whose next token is
trained, and ``shift_labels`` gives the loss their targets, so the loss and its
gradient are those of the full pass (a test compares them).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer
from trl.trainer.sft_trainer import SFTTrainer

from toolthink.rollout.chat import IGNORE_INDEX

__all__ = ["CommandSFTTrainer"]


class CommandSFTTrainer(SFTTrainer):
    """``SFTTrainer`` that can use the model's own loss (faster on CPU).

    With ``model_loss`` the loss is the model's cross-entropy over the
    ``labels`` (``-100`` masked), as `transformers.Trainer` computes it, and the
    token accuracy is computed from the logits; otherwise TRL's fused LM head.
    With ``trained_logits_only`` (and ``model_loss``) the logits are computed
    at the trained positions only (the module docstring).
    """

    def __init__(self, *args: Any, model_loss: bool = True, trained_logits_only: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_loss = model_loss
        self.trained_logits_only = trained_logits_only

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """The model's own loss (and token accuracy), or TRL's when ``model_loss`` is off."""
        if not self.model_loss:
            return super().compute_loss(  # type: ignore[no-untyped-call]
                model, inputs, return_outputs, num_items_in_batch
            )
        inputs["use_cache"] = False
        targets = inputs["labels"][:, 1:]  # (B, T-1): the token each position predicts
        trained = targets != IGNORE_INDEX  # (B, T-1)
        gather = self.trained_logits_only and bool(trained.any())
        if gather:
            keep = torch.nn.functional.pad(trained, (0, 1), value=False)  # (B, T)
            inputs["logits_to_keep"] = keep  # logits (N, V), N = trained positions
            inputs["shift_labels"] = targets[trained]  # (N,)
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            if gather:
                labels, mask = targets[trained], torch.ones_like(targets[trained], dtype=torch.bool)
                predicted = outputs.logits.argmax(-1)  # (N,)
            else:
                labels, mask = targets, trained
                predicted = outputs.logits[:, :-1].argmax(-1)  # (B, T-1)
            correct = (predicted == labels) & mask
            counts = self.accelerator.gather_for_metrics(
                torch.stack([correct.sum(), mask.sum()]).unsqueeze(0)
            ).sum(0)
        if counts[1] > 0:
            self._metrics[mode]["mean_token_accuracy"].append((counts[0] / counts[1]).item())
        return (loss, outputs) if return_outputs else loss

    def log_as_is(self, logs: dict[str, float]) -> None:
        """Log ``logs`` through ``transformers.Trainer.log`` (history and integrations).

        TRL's ``log`` would add, and then clear, the train metrics gathered since
        the last log line (token accuracy) to a record that is not theirs. A
        log line also clears ``control.should_log``; it is restored, so a step's
        own loss line is still written when this is called from a callback.
        """
        pending = self.control.should_log
        Trainer.log(self, dict(logs))
        self.control.should_log = pending
