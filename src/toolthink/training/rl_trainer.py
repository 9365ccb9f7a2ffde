"""Multi-turn GRPO on repair episodes: TRL's `GRPOTrainer` driven by a ``rollout_func``.

The rollout (`toolthink.training.rl_rollout.EpisodeRollout`) plays a step's
episodes; `ChainOfEditsTrainer` trains on them.

Advantages (`RLConfig.advantage`):

* ``"sequence"``: TRL's GRPO: the episode's total reward normalised across its
  group, one value for every token.
* ``"per_turn"`` (the paper's): returns-to-go normalised across the group at
  each turn index (`toolthink.training.advantages`); `ChainOfEditsTrainer`
  replaces TRL's ``(B,)`` advantages with ``(B, C)`` per-token ones, which
  TRL's loss accepts as they are.

The loss scores sampled tokens with the log-probabilities the sampler drew
them from: `ChainOfEditsTrainer` replays each turn's grammar mask
(`toolthink.rollout.mask_replay`) in its forward pass, so the importance
ratio and the KL term compare masked distributions (``mask_replay=False``
keeps TRL's unmasked scoring; docs/rl.md describes the bias it leaves).

The TRL methods overridden here are private: pyproject.toml pins TRL's tested
minor, and tests/training/test_trl_seam.py names the one that changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import torch
from trl.trainer.grpo_trainer import GRPOTrainer

from toolthink.rollout.episodes import Episode
from toolthink.rollout.mask_replay import masked_log_probs, replayed_masks
from toolthink.training.advantages import per_turn_advantages, token_advantages
from toolthink.training.rl_rollout import EPISODE, EpisodeRollout

__all__ = ["ChainOfEditsTrainer", "TokenScoring", "scored_log_probs"]

logger = logging.getLogger(__name__)


@attrs.frozen
class TokenScoring:
    """Which completion tokens the loss scores, and under which grammar masks.

    Attributes:
        scored: ``(B, C)`` bool: the model's own tokens (environment tokens and
            padding False).
        masks: ``(B, C, W)`` int32 llguidance bitmasks the tokens were sampled
            under (`replayed_masks`), or None to score over the whole vocabulary.
    """

    scored: torch.Tensor
    masks: torch.Tensor | None = None


class ChainOfEditsTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` with the paper's per-turn advantages as an option.

    What one override hands the next travels in TRL's ``inputs``: the rollout
    returns each row's `Episode` as an extra field (TRL copies it into the
    rows `_generate_and_score_completions` receives), the per-turn advantages
    and the grammar masks go into the dict TRL buffers and hands to
    `_compute_loss`. TRL calls `_get_per_token_logps_and_entropies` with
    fixed arguments, though: inside ``_generate_and_score_completions``
    (between ``_generate`` and its return, for the old and reference
    log-probs) and inside ``_compute_loss``. For those calls only,
    ``_scoring`` holds the `TokenScoring` of the rows being scored, set on
    entry and cleared on exit.

    Args:
        rollout: The `EpisodeRollout` also given as ``rollout_func``.
        advantage: ``"per_turn"`` or ``"sequence"`` (TRL's, unchanged).
        gamma: Discount of the returns-to-go.
        mask_replay: Score the model's tokens under the grammar masks they were
            sampled with (False: over the whole vocabulary).
        **kwargs: `trl.GRPOTrainer` arguments.
    """

    def __init__(self, *args: Any, rollout: EpisodeRollout, advantage: str = "per_turn",
                 gamma: float = 1.0, mask_replay: bool = True, **kwargs: Any) -> None:
        kwargs["rollout_func"] = rollout
        super().__init__(*args, **kwargs)
        self.rollout = rollout
        self.advantage = advantage
        self.gamma = gamma
        self.mask_replay = mask_replay
        self._scoring: TokenScoring | None = None  # only while TRL scores log-probs
        if advantage == "per_turn" and self.accelerator.num_processes > 1:
            logger.warning("per-turn advantages are normalised within each process's episodes: "
                           "keep per-device generation batches whole groups of num_generations")

    def _generate(self, prompts: list[Any]) -> Any:
        result = super()._generate(prompts)
        # TRL scores the old and reference log-probs before _generate_and_score_completions
        # returns: they need this step's scoring now (cleared when it returns).
        self._scoring = self.token_scoring(self.rollout.episodes)
        return result

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            masks = None if self._scoring is None else self._scoring.masks
        finally:
            self._scoring = None
        completion_ids = output["completion_ids"]  # (B, C)
        if self.advantage == "per_turn":
            episodes = [row[EPISODE] for row in inputs]  # the rollout's extra field, one per row
            output["advantages"] = self.per_token_advantages(
                episodes, completion_ids.shape).to(completion_ids.device)
        if masks is not None:
            width = completion_ids.shape[1]
            if masks.shape[1] < width:  # TRL's pad_to_multiple_of
                extra = masks.new_full((masks.shape[0], width - masks.shape[1], masks.shape[2]), -1)
                masks = torch.cat([masks, extra], dim=1)
            output["grammar_masks"] = masks
        return output

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        scored = inputs["completion_mask"]
        if "tool_mask" in inputs:
            scored = scored * inputs["tool_mask"]
        self._scoring = TokenScoring(scored.bool(), inputs.get("grammar_masks"))
        try:
            loss: torch.Tensor = super()._compute_loss(model, inputs)  # type: ignore[no-untyped-call]
        finally:
            self._scoring = None
        return loss

    def _get_per_token_logps_and_entropies(  # noqa: PLR0917 (TRL's signature)
        self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        logits_to_keep: int, batch_size: int | None = None, compute_entropy: bool = False,
        compute_aux_loss: bool = False, **multimodal: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """`scored_log_probs` with the scoring of the rows TRL is scoring; TRL's own otherwise."""
        if (compute_aux_loss or self._scoring is None
                or any(v is not None for v in multimodal.values())):
            result: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None] = (
                super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size,
                    compute_entropy, compute_aux_loss, **multimodal))
            return result
        logps, entropies = scored_log_probs(
            model, input_ids, attention_mask, logits_to_keep, self._scoring,
            temperature=self.temperature, compute_entropy=compute_entropy)
        return logps, entropies, None

    def token_scoring(self, episodes: Sequence[Episode], width: int | None = None) -> TokenScoring:
        """The `TokenScoring` of ``episodes``, ``width`` (default: the longest) tokens wide."""
        if width is None:
            width = max(1, *(len(e.completion_ids) for e in episodes))
        scored = torch.zeros((len(episodes), width), dtype=torch.bool)
        for row, episode in enumerate(episodes):
            scored[row, : len(episode.env_mask)] = torch.tensor(episode.env_mask, dtype=torch.bool)
        if not self.mask_replay:
            return TokenScoring(scored)
        assert self.rollout.constraint is not None  # built by the rollout's first call
        return TokenScoring(scored, replayed_masks(episodes, self.rollout.constraint, width))

    def per_token_advantages(self, episodes: Sequence[Episode], shape: Sequence[int]
                             ) -> torch.Tensor:
        """The per-turn advantages of ``episodes`` spread over their tokens, ``(B, C)``.

        Groups are consecutive runs of ``num_generations`` episodes (TRL's
        layout); tokens past an episode's end get 0.
        """
        model: Any = self.model
        group: int | None = self.num_generations if model.training else self.num_generations_eval
        assert group is not None  # GRPOConfig fills both
        turns = per_turn_advantages([list(e.rewards) for e in episodes], group, gamma=self.gamma,
                                    scale=self.scale_rewards != "none")
        advantages = torch.zeros(tuple(shape), dtype=torch.float32)
        for row, (episode, values) in enumerate(zip(episodes, turns, strict=True)):
            per_token = token_advantages(values, episode.turn_of_token)
            advantages[row, : len(per_token)] = torch.tensor(per_token, dtype=torch.float32)
        return advantages


def scored_log_probs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int,
    scoring: TokenScoring, *, temperature: float = 1.0, compute_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the model's own completion tokens, ``(B, C)``, under the grammar masks.

    Replaces TRL's fused LM-head kernel, which on CPU scores every position
    (prompt and environment text included) and cannot apply a mask. One row
    at a time, the LM head runs only at the positions that predict a scored
    token (``logits_to_keep`` as indices; environment tokens, most of a
    multi-turn completion, get 0 and carry no loss), the logits are divided by
    the temperature and, with ``scoring.masks``, renormalised over the tokens
    the grammar allowed (`toolthink.rollout.mask_replay.masked_log_probs`).
    Position ids follow the attention mask, as in ``generate`` with left padding.

    Args:
        model: The policy (or reference) model.
        input_ids: ``(B, P + C)`` prompts left-padded, completions right-padded.
        attention_mask: ``(B, P + C)``.
        logits_to_keep: C, the completion width.
        scoring: Which of the C tokens to score, and their masks.
        temperature: The sampler's temperature.
        compute_entropy: Also return the entropy at each scored position.

    Returns:
        ``(B, C)`` log-probs (nats; 0 where not scored) and ``(B, C)``
        entropies or None.
    """
    rows, length = input_ids.shape
    logps, entropies = [], []
    for row in range(rows):
        ids, attention = input_ids[row:row + 1], attention_mask[row:row + 1]
        keep = scoring.scored[row, :logits_to_keep].nonzero().flatten().to(ids.device)  # (K,)
        logp = torch.zeros((1, logits_to_keep), device=ids.device)
        entropy = torch.zeros((1, logits_to_keep), device=ids.device)
        if keep.numel():
            positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
            at = keep + (length - logits_to_keep - 1)  # positions that predict kept tokens
            logits = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                           logits_to_keep=at, use_cache=False).logits
            logits = logits.float() / temperature  # (1, K, V)
            targets = ids[:, length - logits_to_keep + keep]  # (1, K)
            if scoring.masks is not None:
                masks = scoring.masks[row:row + 1, keep.cpu()]
                kept = masked_log_probs(logits, masks, targets)
            else:
                chosen = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
                kept = chosen - torch.logsumexp(logits, dim=-1)
            logp = logp.index_put((torch.zeros_like(keep), keep), kept[0])
            if compute_entropy:
                with torch.no_grad():
                    log_p = torch.log_softmax(logits, dim=-1)
                    entropy[0, keep] = -(log_p.exp() * log_p).sum(-1)[0]
        logps.append(logp)
        entropies.append(entropy)
    return torch.cat(logps, dim=0), torch.cat(entropies, dim=0) if compute_entropy else None
