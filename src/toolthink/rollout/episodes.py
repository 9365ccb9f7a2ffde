"""Batched multi-turn repair episodes with the constrained decoder, token in and token out.

One call of `run_episodes` plays a batch of `toolthink.env.RepairEnv` episodes
to their end: each turn, every live episode's token sequence so far is given to
a turn sampler with one grammar per row (`toolthink.rollout.grammars.turn_grammar_for`
the row's current file; ``model.generate`` with the llguidance processor,
reusing each episode's key/value cache, by default, a vLLM server in RL with
``use_vllm``: `toolthink.rollout.samplers`),
the sampled command is applied by the environment
(all rows' tests in one sandbox batch, `toolthink.env.step_all`), and the next
turn's input is the previous ids + the sampled ids + the environment's ids
(`toolthink.rollout.chat.ChatFormat.observation_ids`). Text is never decoded
and re-encoded to build a prompt, so RL trains on exactly the tokens it sampled
(Rainone et al., arXiv 2507.05065, section 4.2, multi-turn rollouts).

An `Episode` holds what TRL's ``rollout_func`` returns (``prompt_ids``,
``completion_ids``, ``env_mask``, ``logprobs``) plus per turn the reward, the
texts, `toolthink.env.StepInfo`, the code after the command and the test
report; evaluation reads the same objects (nothing is re-parsed or replayed). An ``on_turn``
callable sees each `Turn` as soon as the environment has stepped it (``toolthink
repair`` streams attempts with it).

Log-probabilities are the sampler's: ``log softmax`` of the scores the sampler
drew from, i.e. after the grammar mask and the temperature (``log q``, see
`toolthink.rollout.mask_replay`); environment tokens get 0.0 and mask 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from toolthink.env import EnvConfig, RepairEnv, StepInfo, StepStatus, step_all
from toolthink.errors import ToolthinkError
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import turn_grammar_for
from toolthink.rollout.kv_sampler import KVCacheSampler
from toolthink.rollout.samplers import RolloutConfig, TurnSample, TurnSampler
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

__all__ = [
    "Episode",
    "EpisodeInvariantError",
    "RolloutConfig",
    "RolloutTiming",
    "Turn",
    "run_episodes",
]

logger = logging.getLogger(__name__)


class EpisodeInvariantError(ToolthinkError, AssertionError):
    """A turn's completion ids, env mask and log-probs differ in length (a bug)."""


@attrs.define
class RolloutTiming:
    """Wall-clock seconds spent by `run_episodes`, split by where they went.

    Attributes:
        generation: In ``model.generate`` (grammar masks included).
        sandbox: Running tests and stepping environments.
        total: The whole call.
    """

    generation: float = 0.0
    sandbox: float = 0.0
    total: float = 0.0


@attrs.frozen
class Turn:
    """One stepped turn, as `run_episodes` reports it to ``on_turn`` while it plays.

    Attributes:
        episode: The episode's index in ``tasks``.
        command: The command text the model sampled (EOS excluded).
        reward: The environment's reward for it.
        info: The environment's `toolthink.env.StepInfo` (turn number, status, passed).
        observation: The state and test feedback the environment answered with.
        done: The episode ended with this turn.
        feedback: The test report part of ``observation`` (below its ``***`` line).
    """

    episode: int
    command: str
    reward: float
    info: StepInfo
    observation: str
    done: bool
    feedback: str


@attrs.frozen
class Episode:
    """One played episode, as token ids and as text.

    ``completion_ids`` is everything after ``prompt_ids``: each turn's sampled
    command ids (EOS included), then the environment's observation ids, except
    after the last turn. Per token: ``env_mask`` is 1 on sampled tokens and 0
    on environment tokens; ``logprobs`` is the sampler's log q on sampled
    tokens and 0.0 elsewhere; ``turn_of_token`` is the 0-based turn a token
    belongs to (an observation belongs to the turn it follows).

    Attributes:
        task_id: The task's id.
        prompt_ids: Chat head: system, task and first state, generation prompt (P,).
        completion_ids: (C,) token ids.
        env_mask: (C,) 1 = model token, 0 = environment token.
        logprobs: (C,) sampler log-probabilities, nats.
        turn_of_token: (C,) turn index per token.
        commands: Decoded command text per turn (EOS excluded).
        grammars: The grammar each turn was sampled under (for mask replay,
            `toolthink.rollout.mask_replay`).
        observations: Observation text after each turn (the last one too).
        codes: The code after each turn, whole (only an applied command changes it).
        feedbacks: The test report after each turn as its observation shows
            it below the ``***`` line (`toolthink.env.Observation.feedback`).
        rewards: Environment reward per turn (a budget cut adds the missing-EXIT
            penalty to the last; when no command fit at all, the one entry is
            that penalty).
        infos: `toolthink.env.StepInfo` per turn.
        truncated: Cut by ``max_turns`` or the token budget without ``EXIT``.
        passed: The code passes at the end and the episode was not truncated.
    """

    task_id: str
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    env_mask: tuple[int, ...]
    logprobs: tuple[float, ...]
    turn_of_token: tuple[int, ...]
    commands: tuple[str, ...]
    grammars: tuple[str, ...] = attrs.field(repr=False)
    observations: tuple[str, ...]
    codes: tuple[str, ...] = attrs.field(repr=False)
    feedbacks: tuple[str, ...] = attrs.field(repr=False)
    rewards: tuple[float, ...]
    infos: tuple[StepInfo, ...]
    truncated: bool
    passed: bool

    @property
    def total_reward(self) -> float:
        """Sum of the per-turn rewards."""
        return float(sum(self.rewards))

    @property
    def turns(self) -> int:
        """Commands played."""
        return len(self.commands)

    @property
    def sampled_tokens(self) -> int:
        """Tokens the model generated (mask 1)."""
        return sum(self.env_mask)

    @property
    def exited(self) -> bool:
        """The model ended the episode with ``EXIT`` (not cut by a turn or token budget)."""
        return bool(self.infos) and self.infos[-1].status is StepStatus.EXIT

    @property
    def malformed(self) -> int:
        """Commands that did not parse."""
        return sum(info.status is StepStatus.MALFORMED for info in self.infos)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready summary (no token ids) for trajectory logs."""
        return {
            "task_id": self.task_id,
            "commands": list(self.commands),
            "observations": list(self.observations),
            "rewards": list(self.rewards),
            "infos": [info.as_dict() for info in self.infos],
            "total_reward": self.total_reward,
            "truncated": self.truncated,
            "passed": self.passed,
            "prompt_tokens": len(self.prompt_ids),
            "completion_tokens": len(self.completion_ids),
            "sampled_tokens": self.sampled_tokens,
        }


@attrs.define
class _Live:
    """An episode being played."""

    task: RepairTask
    env: RepairEnv
    prompt_ids: list[int]
    completion_ids: list[int] = attrs.field(factory=list)
    env_mask: list[int] = attrs.field(factory=list)
    logprobs: list[float] = attrs.field(factory=list)
    turn_of_token: list[int] = attrs.field(factory=list)
    commands: list[str] = attrs.field(factory=list)
    grammars: list[str] = attrs.field(factory=list)
    observations: list[str] = attrs.field(factory=list)
    codes: list[str] = attrs.field(factory=list)
    feedbacks: list[str] = attrs.field(factory=list)
    rewards: list[float] = attrs.field(factory=list)
    infos: list[StepInfo] = attrs.field(factory=list)
    done: bool = False
    cut: bool = False  # cut by the token budget
    row: int = 0  # index in run_episodes' tasks

    def extend(self, ids: Sequence[int], mask: int, logprobs: Sequence[float]) -> None:
        if len(ids) != len(logprobs):
            msg = (f"turn {len(self.commands)} of {self.task.task_id}: {len(ids)} ids but "
                   f"{len(logprobs)} log-probs")
            raise EpisodeInvariantError(msg)
        turn = max(len(self.commands) - 1, 0)
        self.completion_ids.extend(ids)
        self.env_mask.extend([mask] * len(ids))
        self.logprobs.extend(logprobs)
        self.turn_of_token.extend([turn] * len(ids))
        if not (len(self.completion_ids) == len(self.env_mask) == len(self.logprobs)
                == len(self.turn_of_token)):
            msg = f"{self.task.task_id}: completion ids, env mask and log-probs differ in length"
            raise EpisodeInvariantError(msg)

    def freeze(self) -> Episode:
        truncated = self.cut or (bool(self.infos) and self.infos[-1].truncated)
        passed = bool(self.infos) and self.infos[-1].passed and not truncated
        return Episode(
            task_id=self.task.task_id, prompt_ids=tuple(self.prompt_ids),
            completion_ids=tuple(self.completion_ids), env_mask=tuple(self.env_mask),
            logprobs=tuple(self.logprobs), turn_of_token=tuple(self.turn_of_token),
            commands=tuple(self.commands), grammars=tuple(self.grammars),
            observations=tuple(self.observations), codes=tuple(self.codes),
            feedbacks=tuple(self.feedbacks), rewards=tuple(self.rewards),
            infos=tuple(self.infos), truncated=truncated,
            passed=passed,
        )


def _record_command(episode: _Live, grammar: str, turn: TurnSample,
                    tokenizer: PreTrainedTokenizerBase, end_ids: Sequence[int]) -> str:
    """Append one sampled command to ``episode``; return its text (EOS excluded)."""
    ids, logprobs, ended = turn
    episode.grammars.append(grammar)
    body = ids[:-1] if ended else ids
    text = str(tokenizer.decode(body, skip_special_tokens=False))
    episode.commands.append(text)
    episode.extend(ids, 1, logprobs)
    if not ended:  # cut at max_new_tokens: close the turn as environment text
        episode.extend(end_ids, 0, [0.0] * len(end_ids))
    return text


def _cut_at_budget(episode: _Live, config: RolloutConfig, env_config: EnvConfig) -> None:
    """End ``episode`` (truncated, missing-EXIT penalty) if its next turn may not fit."""
    used = len(episode.prompt_ids) + len(episode.completion_ids)
    if used + config.max_new_tokens <= config.max_total_tokens:
        return
    episode.done = episode.cut = True
    if episode.rewards:
        episode.rewards[-1] += env_config.no_exit_penalty
    else:  # no turn fits: a failed episode with the missing-EXIT penalty
        episode.rewards.append(env_config.no_exit_penalty)


def run_episodes(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[RepairTask],
    *,
    sandbox: SandboxPool,
    env_config: EnvConfig | None = None,
    config: RolloutConfig | None = None,
    constraint: GrammarConstraint | None = None,
    chat: ChatFormat | None = None,
    timing: RolloutTiming | None = None,
    sampler: TurnSampler | None = None,
    on_turn: Callable[[Turn], None] | None = None,
) -> list[Episode]:
    """Play one episode per task, all turns batched, and return them in order.

    Args:
        model: A causal LM (or peft model) whose ``generate`` accepts a
            ``logits_processor``; it samples under ``torch.no_grad`` unless
            ``sampler`` is given (its config still gives the vocabulary size).
        tokenizer: Its fast tokenizer (with a chat template and an EOS token).
        tasks: One task per episode; repeat a task for a GRPO group.
        sandbox: The pool that runs every test (shared by all episodes).
        env_config: Episode and reward settings (`EnvConfig()` by default).
        config: Sampling settings (`RolloutConfig()` by default).
        constraint: The tokenizer's grammar constraint (built when None).
        chat: The tokenizer's `ChatFormat` (built when None).
        timing: Accumulates generation and sandbox seconds when given.
        sampler: Draws each turn's commands (`toolthink.rollout.samplers`);
            default: a `toolthink.rollout.kv_sampler.KVCacheSampler` on
            ``model`` (each turn reads only the new tokens), built per call.
        on_turn: Called with each `Turn` right after the environment stepped it
            (every live episode once per turn, in ``tasks`` order).

    Returns:
        One `Episode` per task, in the order of ``tasks``.

    Raises:
        EpisodeInvariantError: a turn's ids and log-probs differ in length (a bug).
    """
    started = time.perf_counter()
    env_config = env_config or EnvConfig()
    config = config or RolloutConfig()
    chat = chat or ChatFormat.from_tokenizer(tokenizer)
    constraint = constraint or GrammarConstraint.for_tokenizer(
        tokenizer, vocab_size=int(model.config.vocab_size)
    )
    timing = timing if timing is not None else RolloutTiming()
    end_ids = chat.command_ids("")  # the end-of-turn token(s) alone
    pad = tokenizer.pad_token_id
    pad_id = int(pad if isinstance(pad, int) else constraint.eos_token_ids[0])
    turns: TurnSampler = sampler or KVCacheSampler(model, constraint, pad_id)  # freed with it

    clock = time.perf_counter()
    jobs = [(t.buggy_code, t.tests) for t in tasks]
    reports = sandbox.run_batch(jobs, timeout=env_config.timeout)
    live: list[_Live] = []
    for task, report in zip(tasks, reports, strict=True):
        env = RepairEnv(env_config, sandbox=sandbox)
        first = env.reset_with_report(task, report)
        live.append(_Live(task, env, chat.head_ids(first.system or "", first.text),
                          row=len(live)))
    timing.sandbox += time.perf_counter() - clock

    while True:
        for episode in live:
            if not episode.done:
                _cut_at_budget(episode, config, env_config)
        active = [e for e in live if not e.done]
        if not turns.keep_going(len(active)):  # a shared sampler waits for every process
            break
        clock = time.perf_counter()
        grammars = []
        for e in active:
            assert e.env.editor is not None
            grammars.append(turn_grammar_for(e.env.editor,
                                             restrict_old_text=config.restrict_old_text))
        sampled = turns.sample([e.prompt_ids + e.completion_ids for e in active], grammars,
                                 config)
        timing.generation += time.perf_counter() - clock
        texts = [_record_command(episode, grammar, turn, tokenizer, end_ids)
                 for episode, grammar, turn in zip(active, grammars, sampled, strict=True)]
        clock = time.perf_counter()
        results = step_all([e.env for e in active], texts) if active else []
        timing.sandbox += time.perf_counter() - clock
        for episode, (observation, reward, done, info) in zip(active, results, strict=True):
            episode.rewards.append(reward)
            episode.infos.append(info)
            episode.observations.append(observation.text)
            episode.codes.append(observation.code)
            episode.feedbacks.append(observation.feedback)
            episode.done = done
            if on_turn is not None:
                on_turn(Turn(episode.row, episode.commands[-1], reward, info,
                             observation.text, done, observation.feedback))
            if not done:
                obs_ids = chat.observation_ids(observation.text)
                episode.extend(obs_ids, 0, [0.0] * len(obs_ids))
    timing.total += time.perf_counter() - started
    return [e.freeze() for e in live]
