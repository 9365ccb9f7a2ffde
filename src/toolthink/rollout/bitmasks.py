"""llguidance token bitmasks: one bit per token, 32 tokens per int32 word.

Token ``t`` is allowed when bit ``t % 32`` of word ``t // 32`` is set; a row of
``V`` tokens takes ``W = ceil(V / 32)`` words. This is the layout of
llguidance's ``compute_bitmask`` / ``unsafe_compute_mask_ptr`` and of vLLM's
grammar bitmasks (https://github.com/guidance-ai/llguidance, ``llguidance.torch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import torch

from toolthink.errors import ToolthinkError

__all__ = [
    "BITS",
    "MaskShapeError",
    "allowed_tokens",
    "apply_bitmask",
    "bitmask_of",
    "token_allowed",
]

BITS: Final = 32
"""Tokens per int32 word."""

_SHIFTS8: Final = torch.arange(8, dtype=torch.uint8)


class MaskShapeError(ToolthinkError, ValueError):
    """Logits and a bitmask do not cover the same vocabulary."""


def bitmask_of(token_ids: Sequence[int], vocab_size: int) -> torch.Tensor:
    """Return the ``(W,)`` int32 llguidance bitmask that allows exactly ``token_ids``.

    Args:
        token_ids: Allowed token ids, each in ``0..vocab_size - 1``.
        vocab_size: V; the mask has ``W = ceil(V / 32)`` words.
    """
    words = np.zeros((vocab_size + BITS - 1) // BITS, dtype=np.uint32)
    for token in token_ids:
        words[token // BITS] |= np.uint32(1 << (token % BITS))
    return torch.from_numpy(words.view(np.int32))


def allowed_tokens(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Unpack llguidance bitmasks into boolean masks.

    Args:
        bitmask: ``(..., W)`` int32, bit ``t % 32`` of word ``t // 32`` set when
            token ``t`` is allowed (llguidance's layout).
        vocab_size: V, the number of logits; ``V <= 32 * W``.

    Returns:
        ``(..., V)`` bool, True where the token is allowed.

    Raises:
        MaskShapeError: ``V`` exceeds the bitmask's width.
    """
    width = bitmask.shape[-1]
    if vocab_size > BITS * width:
        msg = (
            f"scores have {vocab_size} logits but the grammar mask covers {BITS * width} "
            "tokens: build the GrammarConstraint with vocab_size=model.config.vocab_size"
        )
        raise MaskShapeError(msg)
    # int32 words are little-endian: byte k of a row holds tokens 8k..8k+7, low bit first
    if bitmask.device.type == "cpu":  # numpy's unpackbits is one C loop: ~1.5x faster
        octets = bitmask.contiguous().numpy().view(np.uint8)  # (..., 4W)
        bits = np.unpackbits(octets, axis=-1, bitorder="little")[..., :vocab_size]
        return torch.from_numpy(bits.view(np.bool_))  # (..., V)
    return _unpack_on_device(bitmask, vocab_size)


def _unpack_on_device(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    octets = bitmask.contiguous().view(torch.uint8)  # (..., 4W)
    bits = (octets.unsqueeze(-1) >> _SHIFTS8.to(bitmask.device)) & 1  # (..., 4W, 8)
    return bits.flatten(-2)[..., :vocab_size].bool()  # (..., V)


def token_allowed(bitmask: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Whether each token is allowed by its bitmask, without unpacking the masks.

    Args:
        bitmask: ``(..., W)`` int32 llguidance bitmasks.
        token_ids: ``(...)`` token ids, one per mask.

    Returns:
        ``(...)`` bool.
    """
    words = bitmask.gather(-1, (token_ids // BITS).unsqueeze(-1)).squeeze(-1)
    return ((words >> (token_ids % BITS).to(words.dtype)) & 1).bool()


def apply_bitmask(scores: torch.Tensor, bitmask: torch.Tensor) -> torch.Tensor:
    """Return ``scores`` with the tokens a bitmask forbids set to ``-inf``.

    Args:
        scores: ``(B, V)`` or ``(B, T, V)`` logits, on any device.
        bitmask: ``(B, W)`` or ``(B, T, W)`` int32 llguidance bitmask (CPU or the
            same device).

    Returns:
        A new tensor shaped like ``scores``.
    """
    allowed = allowed_tokens(bitmask, scores.shape[-1]).to(scores.device)
    return torch.where(allowed, scores, scores.new_tensor(float("-inf")))
