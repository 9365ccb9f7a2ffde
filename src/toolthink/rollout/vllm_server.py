"""Turn sampling on a vLLM server: RL rollouts with ``use_vllm: true``, ``vllm_mode: server``.

TRL 1.16 connects its ``VLLMClient`` (``trl/generation/vllm_client.py``) to a
``vllm serve`` process on the main training process and, before each rollout,
pushes the policy's weights to it (``VLLMGeneration.sync_weights``: a peft
model is merged, streamed over NCCL, unmerged). `VLLMServerSampler` uses that
client for each turn of `toolthink.rollout.episodes.run_episodes`:

* one ``/v1/completions`` request per distinct turn grammar (the episodes of
  a group share their first turn's grammar), sent concurrently; prompts go as
  token ids, never text, and the grammar goes as vLLM's structured output
  ``{"grammar": text}`` (`toolthink.rollout.grammars.vllm_structured_outputs`),
  which vLLM's ``guidance`` backend compiles with
  ``llguidance.grammar_from("grammar", text)``, the same Lark grammar
  `toolthink.rollout.constrained` compiles;
* the answer is checked token in, token out: the server saw the prompt ids
  that were sent, returned one log-prob per sampled id, ended each command
  with an EOS id or at ``max_new_tokens``, and every command is in its turn's
  grammar (so the loss's mask replay rebuilds the masks the server sampled
  under). A violation raises `VLLMProtocolError`; nothing is silently repaired.

With several training processes only process 0 holds the client: each turn,
every process's rows are gathered, process 0 sends the requests, the results
are broadcast back, and every process keeps calling until no process has a
live episode (`VLLMServerSampler.keep_going`).

The log-prob of a token is vLLM's with ``--logprobs-mode processed_logprobs``
(after the grammar mask and the temperature: the log q `GenerateSampler`
records); `check_server` refuses another mode. No module here imports vLLM:
TRL's client does, when ``use_vllm`` is set. Server command and recipe:
docs/recipes.md, "vLLM server mode"; design notes: docs/rl.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import attrs
import torch

from toolthink.errors import ToolthinkError
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import VLLM_ENGINE_KWARGS, vllm_structured_outputs
from toolthink.rollout.samplers import RolloutConfig, TurnSample

__all__ = [
    "VLLMProtocolError",
    "VLLMServerError",
    "VLLMServerSampler",
    "check_server",
]

logger = logging.getLogger(__name__)

LOGPROBS_MODE = "processed_logprobs"
VLLM_LOGPROB_FLOOR = -9999.0
"""vLLM clamps returned log-probs to this (``-inf`` arrives as it): a sampled token's is above."""
GRAMMAR_BACKEND = VLLM_ENGINE_KWARGS["structured_outputs_config"]["backend"]


class VLLMServerError(ToolthinkError, RuntimeError):
    """The vLLM server is set up in a way toolthink's rollouts cannot use."""


class VLLMProtocolError(ToolthinkError, RuntimeError):
    """A vLLM answer breaks token in, token out (ids, log-probs or grammar)."""


def check_server(client: Any, *, max_episode_tokens: int) -> None:
    """Refuse a server whose settings would bias or break the rollouts.

    Args:
        client: TRL's ``VLLMClient`` (its ``get_server_info()`` reads the
            server's ``VllmConfig`` from ``/server_info``, dev mode).
        max_episode_tokens: The longest prompt + completion an episode may reach.

    Raises:
        VLLMServerError: the log-probs are not ``processed_logprobs`` (they
            would miss the temperature), ``max_model_len`` is below
            ``max_episode_tokens`` (vLLM would end long episodes early), or the
            structured-output backend is set and is not ``guidance`` (xgrammar
            does not read llguidance's Lark extensions).
    """
    info = client.get_server_info()
    model = info.get("model_config") or {}
    mode = model.get("logprobs_mode")
    if mode != LOGPROBS_MODE:
        msg = (f"the vLLM server runs with --logprobs-mode {mode}: its log-probs are not the "
               f"sampler's log q, which the RL loss needs; restart it with --logprobs-mode "
               f"{LOGPROBS_MODE} (docs/recipes.md, 'vLLM server mode')")
        raise VLLMServerError(msg)
    max_len = model.get("max_model_len")
    if isinstance(max_len, int) and max_len < max_episode_tokens:
        msg = (f"the vLLM server's max_model_len is {max_len} tokens, below "
               f"max_episode_tokens={max_episode_tokens}: restart it with --max-model-len "
               f"{max_episode_tokens} or lower max_episode_tokens")
        raise VLLMServerError(msg)
    backend = (info.get("structured_outputs_config") or {}).get("backend")
    if backend is None:
        logger.warning("the vLLM server does not report its structured-output backend; toolthink "
                       "needs %r (checked on every command it samples)", GRAMMAR_BACKEND)
    elif backend != GRAMMAR_BACKEND:
        msg = (f"the vLLM server's structured-output backend is {backend!r}: toolthink's turn "
               f"grammars use llguidance's Lark; restart it with "
               f"--structured-outputs-config.backend {GRAMMAR_BACKEND}")
        raise VLLMServerError(msg)


@attrs.define
class VLLMServerSampler:
    """A `toolthink.rollout.samplers.TurnSampler` backed by a vLLM server.

    Args:
        client: TRL's ``VLLMClient`` on the main process; None on the others
            (they send their rows to the main process).
        constraint: The policy tokenizer's `GrammarConstraint` (EOS ids, and
            the check that each command is in its grammar).
        accelerator: The trainer's accelerate ``Accelerator`` when several
            processes train; None for one process.
        max_concurrent_requests: Requests in flight at once (one per grammar).
        request_timeout: Seconds to wait for one request's answer (TRL's
            client sets no timeout of its own).
    """

    client: Any
    constraint: GrammarConstraint
    accelerator: Any = None
    max_concurrent_requests: int = 32
    request_timeout: float = 600.0

    @classmethod
    def from_trainer(cls, trainer: Any, constraint: GrammarConstraint, *,
                     max_episode_tokens: int) -> VLLMServerSampler:
        """The sampler for a `trl.GRPOTrainer` built with ``use_vllm`` in server mode.

        With several processes, the server is checked on the main process and
        its verdict is broadcast, so every process raises together.

        Raises:
            VLLMServerError: the trainer has no vLLM server (``use_vllm`` off
                or colocate mode), or `check_server` refuses it.
        """
        generation = getattr(trainer, "vllm_generation", None)
        if generation is None or getattr(trainer, "vllm_mode", None) != "server":
            msg = ("VLLMServerSampler needs a trainer built with use_vllm: true and "
                   "vllm_mode: server")
            raise VLLMServerError(msg)
        accelerator = trainer.accelerator
        shared = accelerator if accelerator.num_processes > 1 else None
        client = getattr(generation, "vllm_client", None)  # the main process only
        failure: Exception | None = None
        if accelerator.is_main_process:
            try:
                check_server(client, max_episode_tokens=max_episode_tokens)
            except VLLMServerError as e:
                failure = e
        _raise_together(shared, failure)
        return cls(client, constraint, shared)

    def keep_going(self, live: int) -> bool:
        """True while any process has a live episode (an all-reduce with several processes)."""
        if self.accelerator is None:
            return live > 0
        count = torch.tensor([live], device=self.accelerator.device)
        return int(self.accelerator.reduce(count, reduction="sum").item()) > 0

    def sample(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
               config: RolloutConfig) -> list[TurnSample]:
        """Sample one command per row on the server (see `TurnSampler`).

        Raises:
            VLLMProtocolError: an answer breaks token in, token out (on every
                process when one answer for any process does).
            VLLMServerError: a request failed or took longer than
                ``request_timeout`` seconds (likewise on every process).
        """
        if self.accelerator is None:
            mine = self._request(rows, grammars, config)
        else:
            mine = self._request_for_all(rows, grammars, config)
        self._check_grammars(mine, grammars)
        return mine

    def _request_for_all(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
                         config: RolloutConfig) -> list[TurnSample]:
        """Gather every process's rows, request them on process 0, send each its slice."""
        every: list[Any] = [None] * self.accelerator.num_processes  # one entry per process
        torch.distributed.all_gather_object(every, (list(map(list, rows)), list(grammars)))
        answers: list[Any] = [None]
        failure: Exception | None = None
        if self.accelerator.is_main_process:
            flat_rows = [r for process_rows, _ in every for r in process_rows]
            flat_grammars = [g for _, process_grammars in every for g in process_grammars]
            try:
                flat = self._request(flat_rows, flat_grammars, config)
            except Exception as e:  # sent to every process, then raised
                failure = e
            else:
                split, start = [], 0
                for process_rows, _ in every:
                    split.append(flat[start:start + len(process_rows)])
                    start += len(process_rows)
                answers = [split]
        if failure is not None:
            answers = [failure]
        torch.distributed.broadcast_object_list(answers, src=0)
        if isinstance(answers[0], Exception):
            if failure is not None:
                raise failure
            raise answers[0]
        mine: list[TurnSample] = answers[0][self.accelerator.process_index]
        return mine

    def _request(self, rows: Sequence[Sequence[int]], grammars: Sequence[str | None],
                 config: RolloutConfig) -> list[TurnSample]:
        if not rows:
            return []
        if self.client is None:
            msg = "VLLMServerSampler has no client: only the main process may send requests"
            raise VLLMServerError(msg)
        groups: dict[str | None, list[int]] = {}
        for index, grammar in enumerate(grammars):
            groups.setdefault(grammar, []).append(index)
        eos = list(self.constraint.eos_token_ids)

        def send(grammar: str | None, indices: list[int]) -> dict[str, Any]:
            extra: dict[str, Any] = {"stop_token_ids": eos}
            if grammar is not None:  # None: free text (the direct-answer baseline)
                extra["structured_outputs"] = vllm_structured_outputs(grammar)
            out: dict[str, Any] = self.client.generate(
                prompts=[list(rows[i]) for i in indices], n=1,
                temperature=config.temperature, top_p=config.top_p, top_k=config.top_k,
                max_tokens=config.max_new_tokens, logprobs=0, generation_kwargs=extra,
            )
            return out

        results: list[TurnSample | None] = [None] * len(rows)
        workers = max(1, min(len(groups), self.max_concurrent_requests))
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = [(indices, pool.submit(send, grammar, indices))
                       for grammar, indices in groups.items()]
            for indices, future in futures:
                try:
                    out = future.result(timeout=self.request_timeout)
                except FutureTimeout:
                    msg = (f"the vLLM server did not answer within {self.request_timeout:.0f} s "
                           f"({len(indices)} prompts of up to {config.max_new_tokens} tokens): "
                           "is it alive and reachable?")
                    raise VLLMServerError(msg) from None
                for position, index in enumerate(indices):
                    results[index] = self._unpack(rows[index], out, position, config)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a hung request must not block
        return [r for r in results if r is not None]

    def _unpack(self, row: Sequence[int], out: dict[str, Any], position: int,
                config: RolloutConfig) -> TurnSample:
        """Check and unpack one completion of a ``VLLMClient.generate`` answer."""
        seen = [int(t) for t in out["prompt_ids"][position]]
        if seen != list(row):
            first = next((i for i, (a, b) in enumerate(zip(seen, row, strict=False)) if a != b),
                         min(len(seen), len(row)))
            msg = (f"the vLLM server saw {len(seen)} prompt ids, not the {len(row)} sent "
                   f"(first difference at position {first}): it must take token ids as they "
                   "are (no BOS added, no re-tokenisation)")
            raise VLLMProtocolError(msg)
        ids = [int(t) for t in out["completion_ids"][position]]
        if out.get("logprobs") is None or out.get("logprob_token_ids") is None:
            msg = "the vLLM server returned no log-probs: the request asks for logprobs=0"
            raise VLLMProtocolError(msg)
        logprobs = _sampled_logprobs(ids, out["logprobs"][position],
                                     out["logprob_token_ids"][position])
        eos = set(self.constraint.eos_token_ids)
        stops = [i for i, t in enumerate(ids) if t in eos]
        ended = bool(stops)
        if ended and stops[0] != len(ids) - 1:
            msg = (f"the vLLM server sampled {len(ids) - 1 - stops[0]} tokens after the EOS id "
                   f"{ids[stops[0]]}: pass the policy's EOS ids as stop_token_ids")
            raise VLLMProtocolError(msg)
        if not ended and len(ids) != config.max_new_tokens:
            msg = (f"the vLLM server stopped a command after {len(ids)} of "
                   f"{config.max_new_tokens} tokens without an EOS id {sorted(eos)}: toolthink "
                   "needs the stop token in the completion ids (its log-prob is trained on); "
                   "check the server's max_model_len and that it serves the policy's tokenizer")
            raise VLLMProtocolError(msg)
        return ids, logprobs, ended

    def _check_grammars(self, turns: Sequence[TurnSample],
                        grammars: Sequence[str | None]) -> None:
        """Each command must be in its turn grammar (each process checks its own rows).

        vLLM ignores request fields it does not know and then samples without
        a grammar: this check is what catches it, and a server whose masks
        differ from the ones mask replay rebuilds.
        """
        for (ids, _, ended), grammar in zip(turns, grammars, strict=True):
            if grammar is None:  # free text: nothing to check
                continue
            body = ids[:-1] if ended else ids
            matcher = self.constraint.matcher(grammar)
            in_grammar = all(matcher.consume_token(t) for t in body)
            if not in_grammar or (ended and not matcher.is_accepting()):
                msg = (f"the vLLM server sampled a command outside its turn grammar "
                       f"(ids {body[:12]}...): it ignored the grammar or its masks differ from "
                       "toolthink's, so the loss would score other distributions; serve the "
                       "policy's tokenizer with --structured-outputs-config.backend "
                       f"{GRAMMAR_BACKEND} (vLLM >= 0.10.2 reads structured_outputs)")
                raise VLLMProtocolError(msg)


def _raise_together(accelerator: Any, failure: Exception | None) -> None:
    """Raise ``failure`` (set on the main process) on every process, or return on all."""
    if accelerator is not None:
        box: list[Any] = [failure]
        torch.distributed.broadcast_object_list(box, src=0)
        failure = failure or box[0]
    if failure is not None:
        raise failure


def _sampled_logprobs(ids: Sequence[int], logprobs: Sequence[Sequence[float | None]],
                      token_ids: Sequence[Sequence[int]]) -> list[float]:
    """The log-prob of each sampled id from ``VLLMClient.generate``'s (T, k) lists."""
    if not len(ids) == len(logprobs) == len(token_ids):
        msg = (f"the vLLM server returned {len(ids)} ids but {len(logprobs)} log-prob entries "
               f"and {len(token_ids)} log-prob token entries: one per sampled id is needed")
        raise VLLMProtocolError(msg)
    values = []
    rows = zip(ids, logprobs, token_ids, strict=True)
    for t, (token, candidates, candidate_ids) in enumerate(rows):
        try:
            value = candidates[list(candidate_ids).index(token)]
        except ValueError:
            msg = (f"token {t} of a completion is {token}, but its log-prob entry is for "
                   f"{list(candidate_ids)}")
            raise VLLMProtocolError(msg) from None
        if value is None or not math.isfinite(value) or value <= VLLM_LOGPROB_FLOOR:
            msg = (f"token {t} ({token}) of a completion has log-prob {value}: a sampled "
                   "token's is finite")
            raise VLLMProtocolError(msg)
        values.append(float(value))
    return values
