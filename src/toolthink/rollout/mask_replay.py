"""Replaying the sampler's grammar masks in the training forward pass.

A constrained sampler draws each token from the masked, renormalised
distribution ``q(t) = p(t) m(t) / Z`` with ``Z = sum_t p(t) m(t)``, not from the
model's ``p``. A policy-gradient loss (GRPO) that scores sampled tokens with
``log p`` instead of ``log q`` is biased by ``-log Z`` per token: its gradient
also pushes probability from forbidden tokens to allowed ones (a format signal
on top of the reward), and its importance ratio ``p_new / p_old`` differs from
the sampler's ``q_new / q_old`` by ``Z_old / Z_new``, so clipping acts on the
wrong ratio. Replaying the masks removes the bias: compute them again from the
completion tokens (`replay_masks`, the same llguidance matchers as the
sampler) and score with `masked_log_probs`. See docs/constrained-decoding.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from toolthink.rollout.bitmasks import apply_bitmask, token_allowed
from toolthink.rollout.constrained import ConstraintError, GrammarConstraint
from toolthink.rollout.episodes import Episode

__all__ = ["masked_log_probs", "replay_masks", "replayed_masks"]


def replay_masks(
    constraint: GrammarConstraint,
    grammars: str | Sequence[str],
    completion_ids: torch.Tensor,
) -> torch.Tensor:
    """Recompute the masks a `GrammarLogitsProcessor` applied to each completion token.

    Mirrors the processor: the mask for token ``t`` is computed before the
    token is consumed; after EOS (or a refused token) a row's masks allow only
    EOS, whatever padding follows.

    Args:
        constraint: The tokenizer's `GrammarConstraint` (the sampler's).
        grammars: The sampler's grammars: one for all rows, or one per row.
        completion_ids: ``(B, T)`` generated token ids, prompt excluded.

    Returns:
        ``(B, T, W)`` int32 llguidance bitmasks, on the CPU.

    Raises:
        ConstraintError: the number of grammars does not match B.
    """
    batch, length = completion_ids.shape
    rows = [grammars] * batch if isinstance(grammars, str) else list(grammars)
    if len(rows) != batch:
        msg = f"got {len(rows)} grammars for {batch} completions: pass one per row, or one for all"
        raise ConstraintError(msg)
    masks = torch.zeros((batch, length, constraint.words), dtype=torch.int32)
    row_bytes = constraint.words * masks.element_size()
    eos = set(constraint.eos_token_ids)
    for row, (grammar, tokens) in enumerate(zip(rows, completion_ids.tolist(), strict=True)):
        matcher = constraint.matcher(grammar)
        finished = False
        for step, token in enumerate(tokens):
            if finished:
                masks[row, step] = constraint.eos_only_mask
                continue
            matcher.unsafe_compute_mask_ptr(masks[row, step].data_ptr(), row_bytes)
            finished = not matcher.consume_token(token) or token in eos
    return masks


def masked_log_probs(
    logits: torch.Tensor, masks: torch.Tensor, token_ids: torch.Tensor
) -> torch.Tensor:
    """Log-probabilities of tokens under the masked, renormalised distribution.

    Args:
        logits: ``(B, T, V)`` logits that predicted each token (the model's
            output shifted so that ``logits[:, t]`` scores ``token_ids[:, t]``).
        masks: ``(B, T, W)`` int32 bitmasks from `replay_masks` (or the
            processor's ``recorded_masks()``); any device.
        token_ids: ``(B, T)`` the sampled tokens.

    Returns:
        ``(B, T)`` log q(token), in nats. Where the mask forbids the token
        (only padding after EOS can be, when the pad id is not an EOS id), the
        unmasked log-probability is returned instead, so the result stays
        finite for losses that multiply by a completion mask.
    """
    masks = masks.to(logits.device)
    index = token_ids.unsqueeze(-1)
    chosen = logits.gather(-1, index).squeeze(-1).float()  # (B, T)
    log_z_q = torch.logsumexp(apply_bitmask(logits, masks).float(), dim=-1)  # (B, T)
    log_z_p = torch.logsumexp(logits.float(), dim=-1)
    allowed = token_allowed(masks, token_ids)
    return chosen - torch.where(allowed, log_z_q, log_z_p)


def replayed_masks(
    episodes: Sequence[Episode], constraint: GrammarConstraint, width: int
) -> torch.Tensor:
    """The grammar masks each episode's sampled tokens were drawn under.

    Args:
        episodes: One step's episodes.
        constraint: The sampler's `GrammarConstraint`.
        width: Completion length to pad to (C).

    Returns:
        ``(B, C, W)`` int32 llguidance bitmasks: each turn's command tokens get
        `toolthink.rollout.mask_replay.replay_masks` of the turn's grammar;
        environment tokens and padding allow every token (-1).
    """
    masks = torch.full((len(episodes), width, constraint.words), -1, dtype=torch.int32)
    for row, episode in enumerate(episodes):
        position = 0
        for turn, grammar in enumerate(episode.grammars):
            while position < len(episode.env_mask) and episode.turn_of_token[position] < turn:
                position += 1
            stop = position
            while stop < len(episode.env_mask) and episode.env_mask[stop] == 1:
                stop += 1
            ids = torch.tensor([episode.completion_ids[position:stop]], dtype=torch.long)
            masks[row, position:stop] = replay_masks(constraint, grammar, ids)[0]
            position = stop
    return masks
