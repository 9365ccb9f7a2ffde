"""A turn sampler that keeps each episode's key/value cache between turns.

`toolthink.rollout.samplers.GenerateSampler` re-reads each row's whole
sequence (prompt, every earlier command and observation) at every turn and
left-pads the batch to its longest row, so a 10-turn episode reads its prompt
10 times and short rows compute on padding. `KVCacheSampler` keeps, per live
episode, the key/value states of everything it has read, and each turn feeds
only the new tokens (the last command's final token, the observation, the next
generation prompt):

1. **Match.** Each row is matched by token content to the cache of the
   previous turn whose ids (that turn's row + its sampled ids) are a prefix of
   it; a row with no match (first turn, or a row the sampler has not seen) is
   read from scratch. Caches that no row continues are freed.
2. **Prefill, per row, without padding.** The row's unread tokens but its last
   are run through the model at batch 1 with the row's own ``DynamicCache``
   (``logits_to_keep=1``: no LM head over the chunk). Rows with the same cache
   and the same new tokens (a GRPO group's shared prompt) are read once.
3. **Decode, batched.** The rows' caches are left-aligned into one
   ``StaticCache`` (zero keys in the holes, room for ``max_new_tokens``, so
   each step writes in place instead of copying the whole cache as
   ``DynamicCache``'s concatenation does), and transformers ``generate``
   runs from it ("re-use a prompt cache", transformers' KV-cache docs) with
   the left-padded rows as ``input_ids`` (only the last column is uncached),
   an attention mask with zeros on the holes (``generate`` derives position
   ids from it, as for `GenerateSampler`'s left padding), the llguidance
   logits processor and ``output_scores``, exactly as `GenerateSampler` calls it.
4. **Split.** Each row's part of the grown cache (its row and its sampled ids
   but the last, which the model has not read) is copied out, so the batched
   tensors and the states of padding after EOS are freed.

The log q and ended flag per row come from the same
`toolthink.rollout.samplers.turn_samples` as `GenerateSampler`'s. No decode
loop of our own: prefill is one forward per distinct chunk, decode is
``generate``. Models whose caches are not plain full-attention layers
(sliding windows, linear attention: `supports_kv_reuse`) are sampled by a
`GenerateSampler`.

Memory: a live episode keeps ``2 x layers x kv_heads x head_dim`` numbers per
token: 46 kB per token in float32 for SmolLM2-135M (30 x 3 x 64), about
160 MB for a 3,500-token episode; ``generate`` needs as much for the batch in
either sampler.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import attrs
import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    PretrainedConfig,
    PreTrainedModel,
    StaticCache,
)
from transformers.cache_utils import DynamicLayer, StaticLayer

from toolthink.errors import ToolthinkError
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.samplers import (
    GenerateSampler,
    RolloutConfig,
    TurnSample,
    left_pad,
    sampling_kwargs,
    turn_samples,
)

__all__ = ["KVCacheError", "KVCacheSampler", "KVCacheStats", "supports_kv_reuse"]

logger = logging.getLogger(__name__)

_Layers = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""Per decoder layer: keys and values, each ``(1, H, L, D)``."""


class KVCacheError(ToolthinkError, RuntimeError):
    """The model did not fill the key/value cache it was given (``use_cache`` forced off)."""


@attrs.frozen
class _Cached:
    """One episode's cache: ``layers`` hold the states of ``ids[:-1]``."""

    ids: tuple[int, ...]
    layers: _Layers = attrs.field(repr=False)


@attrs.define
class KVCacheStats:
    """Tokens the sampler read, split by where their key/value states came from.

    Attributes:
        reused: Tokens whose states came from a kept cache (not read again).
        prefilled: Tokens run through the model before decoding (tokens).
        shared: Tokens not read because another row had the same cache and chunk.
        fresh_rows: Rows read from scratch (no kept cache was a prefix).
    """

    reused: int = 0
    prefilled: int = 0
    shared: int = 0
    fresh_rows: int = 0


def supports_kv_reuse(model: PreTrainedModel) -> bool:
    """Whether ``model``'s caches are plain full-attention layers (sliceable by column).

    The dynamic cache (prefill) must be one `DynamicLayer` per layer and the
    static cache (decode) one ``StaticLayer``; sliding windows and linear
    attention are not.
    """
    try:
        dynamic = DynamicCache(config=model.config)
        static = StaticCache(config=model.config, max_cache_len=1)
    except (AttributeError, TypeError, ValueError):
        return False
    return (bool(dynamic.layers) and all(type(layer) is DynamicLayer for layer in dynamic.layers)
            and all(type(layer) is StaticLayer for layer in static.layers))


@attrs.define
class KVCacheSampler:
    """Samples with transformers ``generate``, feeding each episode only its new tokens.

    See the module docstring for the algorithm. Caches live between calls of
    `sample` while a row continues them; `clear` frees them all. Use one
    sampler for one model state: after a weight update, build a new one (or
    `clear`), or rows would continue states computed with the old weights.

    Args:
        model: A causal LM (or peft model); it runs under ``torch.no_grad``.
        constraint: The tokenizer's `GrammarConstraint`.
        pad_id: Token id put in the holes of ``input_ids``.
    """

    model: PreTrainedModel
    constraint: GrammarConstraint
    pad_id: int
    stats: KVCacheStats = attrs.field(factory=KVCacheStats, init=False)
    _entries: list[_Cached] = attrs.field(factory=list, init=False, repr=False)
    _fallback: GenerateSampler | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not supports_kv_reuse(self.model):
            logger.warning("%s has no plain per-layer key/value cache: sampling without reuse",
                           type(self.model).__name__)
            self._fallback = GenerateSampler(self.model, self.constraint, self.pad_id)

    def keep_going(self, live: int) -> bool:
        """True while this process has a live episode (one process only)."""
        return live > 0

    def clear(self) -> None:
        """Free every kept cache."""
        self._entries = []

    @property
    def cached_tokens(self) -> int:
        """Tokens whose key/value states are kept now."""
        return sum(len(entry.ids) - 1 for entry in self._entries)

    def sample(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
               config: RolloutConfig) -> list[TurnSample]:
        """Sample one command per row (see `toolthink.rollout.samplers.TurnSampler`).

        Args:
            rows: B token-id sequences, each at least 1 token long.
            grammars: B llguidance Lark grammars; a row of None (free text, a
                direct answer) sends the whole call to `GenerateSampler`: one
                turn has nothing to reuse.
            config: Sampling settings.

        Returns:
            B `TurnSample` s, the same as `GenerateSampler` returns (greedy
            float32: token for token).

        Raises:
            ValueError: a row is empty.
            KVCacheError: the model's forward did not fill the cache it got.
        """
        if self._fallback is not None:
            return self._fallback.sample(rows, grammars, config)
        if any(g is None for g in grammars):
            return GenerateSampler(self.model, self.constraint, self.pad_id).sample(
                rows, grammars, config)
        texts = [g for g in grammars if g is not None]
        lists = [list(row) for row in rows]
        if not lists:
            self._entries = []
            return []
        if any(not row for row in lists):
            msg = "a row is empty: every row needs at least its prompt's tokens"
            raise ValueError(msg)
        # Under autocast (RL's bf16 on CPU) the cached keys come out float32 (RoPE is
        # computed in float32) and the values bf16, which one StaticCache cannot hold;
        # sampling runs in the weights' own precision instead (float32 master weights).
        with torch.no_grad(), _without_autocast(self.model.device.type):
            caches = self._prefill(lists)
            self._entries = []  # unmatched caches (finished episodes) are freed here
            cache = _left_aligned(caches, [len(row) - 1 for row in lists],
                                  max(len(row) for row in lists) - 1, config.max_new_tokens,
                                  self.model.config)
            del caches  # the per-row copies: only the batched cache is needed now
            sampled, scores = self._decode(lists, cache, texts, config)
        samples = turn_samples(sampled, scores, self.constraint.eos_token_ids)
        self._entries = self._split(lists, samples, cache)
        return samples

    def _prefill(self, rows: list[list[int]]) -> list[_Layers | None]:
        """Per row, the states of ``row[:-1]``, reading only what no kept cache holds.

        Each kept cache is dropped as soon as its row has read on (the grown
        copy replaces it), and those no row continues when this returns, so
        the kept and the grown states of one turn are not all alive at once.
        """
        pool: list[_Cached | None] = list(self._entries)
        self._entries = []
        fresh: dict[tuple[int, ...], _Layers | None] = {}  # rows read from scratch, by chunk
        device = self.model.device
        caches: list[_Layers | None] = []
        for row in rows:
            index = _longest_prefix(pool, row)
            base = None
            if index is not None:
                base, pool[index] = pool[index], None
            if base is None:
                self.stats.fresh_rows += 1
                start = 0
                if tuple(row[:-1]) in fresh:
                    self.stats.shared += len(row) - 1
                    caches.append(fresh[tuple(row[:-1])])
                    continue
            else:
                start = len(base.ids) - 1
                self.stats.reused += start
            chunk = row[start:-1]
            if not chunk:
                states = base.layers if base is not None else None
            else:
                cache = (DynamicCache(ddp_cache_data=base.layers) if base is not None
                         else DynamicCache(config=self.model.config))
                base = None  # the cache's concatenation copies the states: free the old ones
                self.model(input_ids=torch.tensor([chunk], dtype=torch.long, device=device),
                           cache=cache, use_cache=True, logits_to_keep=1)
                if cache.get_seq_length() != start + len(chunk):
                    msg = (f"{type(self.model).__name__} left {cache.get_seq_length()} tokens "
                           f"in its cache, not {start + len(chunk)}: sample in eval mode "
                           "under torch.no_grad, or use GenerateSampler")
                    raise KVCacheError(msg)
                self.stats.prefilled += len(chunk)
                states = _states(cache)
            if start == 0:
                fresh[tuple(chunk)] = states
            caches.append(states)
        return caches

    def _decode(self, rows: list[list[int]], cache: StaticCache, grammars: Sequence[str],
                config: RolloutConfig) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``generate`` from ``cache`` (it grows in place): sampled ``(B, N)`` ids, N scores."""
        device = self.model.device
        ids, attention = left_pad(rows, self.pad_id)  # (B, T): the cache holds T - 1 columns
        processor = self.constraint.processor(list(grammars))
        out = self.model.generate(  # type: ignore[operator]
            input_ids=ids.to(device), attention_mask=attention.to(device), cache=cache,
            max_new_tokens=config.max_new_tokens,
            eos_token_id=list(self.constraint.eos_token_ids), pad_token_id=self.pad_id,
            logits_processor=LogitsProcessorList([processor]),
            return_dict_in_generate=True, output_scores=True, **sampling_kwargs(config),
        )
        processor.finish(out.sequences)
        return out.sequences[:, ids.shape[1]:], tuple(out.scores)

    def _split(self, rows: list[list[int]], samples: list[TurnSample],
               cache: StaticCache) -> list[_Cached]:
        """Copy each row's states (its row and sampled ids but the last) out of ``cache``."""
        width = max(len(row) for row in rows)
        batched = _states(cache)  # (B, H, T - 1 + N, D) each
        entries = []
        for i, (row, (tokens, _, _)) in enumerate(zip(rows, samples, strict=True)):
            start = width - len(row)
            stop = width - 1 + len(tokens)  # the last sampled token was never read
            layers = tuple((keys[i:i + 1, :, start:stop].clone(),
                            values[i:i + 1, :, start:stop].clone())
                           for keys, values in batched)
            entries.append(_Cached(tuple(row) + tuple(tokens), layers))
        return entries


def _longest_prefix(pool: Sequence[_Cached | None], row: list[int]) -> int | None:
    """Index of the longest kept cache in ``pool`` whose ids are a prefix of ``row``."""
    best: int | None = None
    longest = -1
    for index, entry in enumerate(pool):
        if entry is None:
            continue
        n = len(entry.ids)
        if longest < n <= len(row) and row[:n] == list(entry.ids):
            best, longest = index, n
    return best


def _without_autocast(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast off on ``device_type`` (nothing to turn off where it has none, e.g. ``meta``)."""
    try:
        return torch.autocast(device_type, enabled=False)
    except RuntimeError:  # torch: "unsupported scalarType" for a device without autocast
        return contextlib.nullcontext()


def _states(cache: DynamicCache | StaticCache) -> _Layers:
    """``cache``'s keys and values per layer (`supports_kv_reuse` checked their kinds)."""
    states = []
    for layer in cache.layers:
        assert isinstance(layer, DynamicLayer | StaticLayer)
        assert layer.keys is not None
        assert layer.values is not None
        states.append((layer.keys, layer.values))
    return tuple(states)


def _left_aligned(caches: Sequence[_Layers | None], lengths: Sequence[int], width: int,
                  room: int, config: PretrainedConfig) -> StaticCache:
    """A batched cache: ``width`` columns, row ``i`` right-aligned at its length, zeros left.

    Each row's states are copied once, straight into the preallocated tensors.
    A ``StaticCache`` of ``width + room`` columns: ``generate`` writes each new
    token in place, where a ``DynamicCache`` concatenates (copies) the whole
    cache at every step and layer, which at batch 32 and 2,000 tokens is
    gigabytes per step.
    """
    cache = StaticCache(config=config, max_cache_len=width + room)
    first = next((c for c in caches if c is not None), None)
    if first is None or width == 0:
        return cache
    k0 = first[0][0]  # (1, H, L, D)
    cache.early_initialization(len(caches), k0.shape[1], k0.shape[3], k0.dtype, k0.device)
    for index, layer in enumerate(cache.layers):
        assert isinstance(layer, StaticLayer)  # supports_kv_reuse
        keys, values = layer.keys, layer.values  # (B, H, width + room, D) zeros
        assert keys is not None
        assert values is not None
        for i, (states, length) in enumerate(zip(caches, lengths, strict=True)):
            if states is not None and length:
                keys[i, :, width - length:width] = states[index][0][0]
                values[i, :, width - length:width] = states[index][1][0]
        layer.cumulative_length.fill_(width)  # what ``update`` would have counted
    return cache
