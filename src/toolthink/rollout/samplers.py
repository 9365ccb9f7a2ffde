"""Turn samplers: how a model writes one turn per row, constrained or free.

A turn sampler takes, for one turn of a batch, each row's token ids so far and
the grammar its text must follow (None: free text), and returns per row the
sampled ids (the end-of-turn EOS included when the turn ended), the sampler's
log q of each id, and whether the turn ended with EOS. Chain-of-Edits episodes
(`toolthink.rollout.episodes.run_episodes`) pass each command's grammar; the
direct-answer baseline (`toolthink.evaluation.direct`) passes None, so every
backend serves both modes. The environment, the token budget, `Episode` and
its invariants do not depend on which sampler drew the tokens.

Three samplers exist:

* `GenerateSampler`: transformers ``generate`` with the llguidance logits
  processor (`toolthink.rollout.constrained`), on the policy's own device;
  each turn reads every row again, left-padded to the longest. Rows without a
  grammar are generated in a call of their own, without the processor.
* `toolthink.rollout.kv_sampler.KVCacheSampler`: the same ``generate`` call,
  but each episode's key/value cache is kept between turns and only the new
  tokens are read. The default of `toolthink.rollout.episodes.run_episodes`.
* `toolthink.rollout.vllm_server.VLLMServerSampler`: a vLLM server's
  ``/v1/completions`` with the grammar as structured output, through TRL's
  ``VLLMClient`` (``use_vllm: true``, ``vllm_mode: server`` in RL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import torch
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from toolthink.rollout.constrained import GrammarConstraint
from toolthink.validators import positive_int

__all__ = ["GenerateSampler", "RolloutConfig", "TurnSample", "TurnSampler", "sampling_kwargs",
           "turn_samples"]

TurnSample = tuple[list[int], list[float], bool]
"""One row's turn: sampled ids (EOS included when it ended), log q per id (nats), ended with EOS."""


@attrs.frozen
class RolloutConfig:
    """How the policy samples its commands.

    Attributes:
        max_new_tokens: Tokens one command may take, EOS included; a command
            cut there is stepped as it is (usually malformed) and closed with
            the EOS token as environment text (mask 0).
        max_total_tokens: Budget of prompt plus completion tokens per episode;
            an episode that would exceed it is cut (truncated: counts as failed).
        temperature: Sampling temperature (> 0); 0 means greedy decoding.
        top_p: Nucleus sampling mass (1.0 = off).
        top_k: Top-k sampling (0 = off).
        restrict_old_text: Restrict REPW's old text to text of its line in the
            grammar (larger grammars; see docs/constrained-decoding.md).
    """

    max_new_tokens: int = attrs.field(default=96, validator=positive_int)
    max_total_tokens: int = attrs.field(default=4096, validator=positive_int)
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    restrict_old_text: bool = False


class TurnSampler(Protocol):
    """What `run_episodes` needs from a sampler."""

    def sample(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
               config: RolloutConfig) -> list[TurnSample]:
        """Sample one turn per row.

        Args:
            rows: B token-id sequences (prompt and completion so far); B may be
                0 for a sampler that takes part in collectives.
            grammars: B llguidance Lark grammars, one per row; None leaves a
                row's text free (the direct-answer baseline).
            config: Sampling settings.

        Returns:
            B `TurnSample` s, in the order of ``rows``.
        """
        ...

    def keep_going(self, live: int) -> bool:
        """Whether to play another turn, given this process's ``live`` episodes.

        A sampler shared by several processes answers for all of them (every
        process must keep calling `sample` until no process has a live episode).
        """
        ...


def sampling_kwargs(config: RolloutConfig) -> dict[str, Any]:
    """``generate`` keyword arguments for ``config``'s sampling (greedy when temperature is 0)."""
    if config.temperature > 0:
        return {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p,
                "top_k": config.top_k}
    return {"do_sample": False}


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ``rows`` into ``(B, T)`` ids and attention mask (1 on real tokens)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        attention[i, width - len(row):] = 1
    return ids, attention  # (B, T) each


@attrs.define
class GenerateSampler:
    """Samples with transformers ``generate`` under the llguidance logits processor.

    Args:
        model: A causal LM (or peft model); it samples under ``torch.no_grad``.
        constraint: The tokenizer's `GrammarConstraint`.
        pad_id: Token id used for left padding.
    """

    model: PreTrainedModel
    constraint: GrammarConstraint
    pad_id: int

    @classmethod
    def for_model(
        cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
        constraint: GrammarConstraint | None = None,
    ) -> GenerateSampler:
        """The sampler of ``model``, padding with the tokenizer's pad token (else its EOS).

        Args:
            model: A causal LM (or peft model).
            tokenizer: Its fast tokenizer.
            constraint: The tokenizer's constraint (default: built once per
                tokenizer, over ``model.config.vocab_size`` logits).
        """
        constraint = constraint or GrammarConstraint.for_tokenizer(
            tokenizer, vocab_size=int(model.config.vocab_size)
        )
        pad = tokenizer.pad_token_id
        return cls(model, constraint, int(pad if isinstance(pad, int)
                                          else constraint.eos_token_ids[0]))

    def keep_going(self, live: int) -> bool:
        """True while this process has a live episode (one process only)."""
        return live > 0

    def sample(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
               config: RolloutConfig) -> list[TurnSample]:
        """Sample one turn per row (see `TurnSampler`).

        One batched ``generate`` call for the rows with a grammar (under the
        llguidance processor) and one for the rows without.
        """
        results: list[TurnSample | None] = [None] * len(rows)
        constrained = [i for i, g in enumerate(grammars) if g is not None]
        free = [i for i, g in enumerate(grammars) if g is None]
        texts = [g for g in grammars if g is not None]
        for indices, chosen in ((constrained, texts), (free, None)):
            turns = self._generate([rows[i] for i in indices], chosen, config)
            for index, turn in zip(indices, turns, strict=True):
                results[index] = turn
        return [r for r in results if r is not None]

    def _generate(self, rows: Sequence[Sequence[int]], grammars: list[str] | None,
                  config: RolloutConfig) -> list[TurnSample]:
        """One batched ``generate`` call, under the grammars' processor unless None."""
        if not rows:
            return []
        ids, attention = left_pad(rows, self.pad_id)
        device = self.model.device
        processor = None if grammars is None else self.constraint.processor(grammars)
        sampling = sampling_kwargs(config)
        with torch.no_grad():
            out = self.model.generate(  # type: ignore[operator]
                input_ids=ids.to(device), attention_mask=attention.to(device),
                max_new_tokens=config.max_new_tokens,
                eos_token_id=list(self.constraint.eos_token_ids), pad_token_id=self.pad_id,
                logits_processor=LogitsProcessorList([] if processor is None else [processor]),
                return_dict_in_generate=True, output_scores=True, **sampling,
            )
        if processor is not None:
            processor.finish(out.sequences)
        return turn_samples(out.sequences[:, ids.shape[1]:], out.scores,
                            self.constraint.eos_token_ids)


def turn_samples(sampled: torch.Tensor, scores: Sequence[torch.Tensor],
                 eos_token_ids: Sequence[int]) -> list[TurnSample]:
    """Cut ``generate`` output into one `TurnSample` per row.

    Args:
        sampled: ``(B, N)`` new token ids (padding after a row's EOS), any device.
        scores: N ``(B, V)`` processed scores the sampler drew from
            (``output_scores=True``): log q is their log softmax.
        eos_token_ids: Tokens that end a command.

    Returns:
        B samples: ids up to and including the first EOS (all N when none),
        their log q (nats), and whether an EOS ended the row.
    """
    # log q of each sampled token, one step at a time on the model's device: stacking the
    # (B, V) scores the sampler drew from into one (B, N, V) float32 tensor and copying it
    # to the CPU moves B*N*V numbers to keep B*N
    logq = torch.stack([
        torch.log_softmax(step.float(), dim=-1).gather(-1, sampled[:, t:t + 1]).squeeze(-1)
        for t, step in enumerate(scores)
    ], dim=1).cpu()  # (B, N); generate returns one (B, V) score per new token
    new = sampled.cpu()
    eos = set(eos_token_ids)
    results: list[TurnSample] = []
    for row in range(new.shape[0]):
        tokens = new[row].tolist()
        end = next((i + 1 for i, t in enumerate(tokens) if t in eos), None)
        ended = end is not None
        tokens = tokens[: end if end is not None else len(tokens)]
        results.append((tokens, logq[row, : len(tokens)].tolist(), ended))
    return results
