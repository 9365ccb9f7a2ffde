"""The episodes of one GRPO step: TRL's ``rollout_func`` and reward function.

TRL 1.16 calls ``rollout_func(prompts, trainer)`` with each dataset prompt
repeated once per generation; `EpisodeRollout` plays one
`toolthink.rollout.episodes.Episode` per entry (all of a step's episodes
batched, tests in one sandbox pool) and returns ``prompt_ids``,
``completion_ids``, ``env_mask`` (environment tokens 0: never trained on),
``logprobs`` (the sampler's), for the reward function ``episode_reward``, and
``episode`` (each row's `Episode`, which TRL copies into the rows
`toolthink.training.rl_trainer.ChainOfEditsTrainer` computes the per-turn
advantages from).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from transformers import PreTrainedTokenizerBase
from trl.models.utils import unwrap_model_for_generation

from toolthink.env import EnvConfig
from toolthink.jsonl import write_jsonl
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import (
    Episode,
    EpisodeInvariantError,
    RolloutConfig,
    RolloutTiming,
    run_episodes,
)
from toolthink.rollout.samplers import TurnSampler
from toolthink.rollout.vllm_server import VLLMServerSampler
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool
from toolthink.training.rl_log import step_metrics

__all__ = ["EPISODE", "EpisodeRollout", "episode_reward"]

logger = logging.getLogger(__name__)

EPISODE = "episode"
"""The rollout's extra field that carries each row's `Episode` into TRL's inputs."""


def episode_reward(completions: Sequence[Any], episode_reward: Sequence[float],
                   **kwargs: Any) -> list[float]:
    """TRL reward function: the environment's total reward of each episode.

    Args:
        completions: The decoded completions (unused: the environment scored them).
        episode_reward: Sum of per-turn rewards, from `EpisodeRollout`.
        **kwargs: Other dataset and rollout fields (unused).
    """
    return [float(r) for r in episode_reward]


@attrs.define
class EpisodeRollout:
    """TRL ``rollout_func``: plays the episodes of one generation batch.

    Args:
        tasks: Task by dataset prompt (the prompt column holds the key).
        tokenizer: The policy's tokenizer.
        sandbox: The shared test pool.
        env_config: Episode and reward settings.
        config: Sampling settings.
        trajectories: JSONL file that receives sample episodes (None: none).
        trajectories_per_step: Episodes written per call.
        sampler: Draws the commands; None: transformers ``generate`` on the
            trainer's model, or, when the trainer has ``use_vllm`` (server
            mode), a `toolthink.rollout.vllm_server.VLLMServerSampler` built
            on the first call.
    """

    tasks: dict[str, RepairTask]
    tokenizer: PreTrainedTokenizerBase
    sandbox: SandboxPool
    env_config: EnvConfig
    config: RolloutConfig
    trajectories: Path | None = None
    trajectories_per_step: int = 4
    chat: ChatFormat | None = None
    constraint: GrammarConstraint | None = None
    sampler: TurnSampler | None = None
    episodes: list[Episode] = attrs.field(factory=list)
    timing: RolloutTiming = attrs.field(factory=RolloutTiming)
    calls: int = 0

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, Any]:
        """Play one episode per prompt; return TRL's rollout fields.

        Raises:
            KeyError: A prompt names no known task.
            EpisodeInvariantError: Ids, masks and log-probs differ in length.
        """
        tasks = [self.tasks[str(p)] for p in prompts]
        model = trainer.model_wrapped
        if self.chat is None:
            self.chat = ChatFormat.from_tokenizer(self.tokenizer)
        if self.constraint is None:
            vocab = int(trainer.model.config.vocab_size)
            self.constraint = GrammarConstraint.for_tokenizer(self.tokenizer, vocab_size=vocab)
        self.timing = RolloutTiming()
        step = trainer.state.global_step + 1
        logger.info("step %d: playing %d episodes of up to %d turns", step, len(tasks),
                    self.env_config.max_turns)
        if self.sampler is None and getattr(trainer, "use_vllm", False):
            self.sampler = VLLMServerSampler.from_trainer(
                trainer, self.constraint, max_episode_tokens=self.config.max_total_tokens)
        if self.sampler is not None:  # TRL pushed this step's weights to the server
            self.episodes = self._play(trainer.model, tasks)
        else:
            # the trainer's precision (bf16 autocast on a CPU run with bf16): sampled as scored
            with (unwrap_model_for_generation(model, trainer.accelerator) as unwrapped,
                  trainer.accelerator.autocast()):
                training = unwrapped.training
                unwrapped.eval()  # no dropout while sampling (an SFT adapter's LoRA dropout)
                try:
                    self.episodes = self._play(unwrapped, tasks)
                finally:
                    unwrapped.train(training)
        self.calls += 1
        summary = step_metrics(self.episodes)
        logger.info("step %d: played in %.0f s (mean reward %+.2f, pass rate %.2f, %.1f turns); "
                    "now the log-prob passes and the update", step, self.timing.total,
                    summary["reward"], summary["pass_rate"], summary["turns"])
        self._write_trajectories(trainer)
        end = self.chat.command_ids("")
        out: dict[str, list[Any]] = {k: [] for k in (
            "prompt_ids", "completion_ids", "env_mask", "logprobs", "episode_reward", EPISODE)}
        for episode in self.episodes:
            ids, mask, logprobs = (list(episode.completion_ids), list(episode.env_mask),
                                   list(episode.logprobs))
            if not ids:  # no command fitted the budget: one masked end token keeps TRL's shapes
                ids, mask, logprobs = list(end), [0] * len(end), [0.0] * len(end)
            if not len(ids) == len(mask) == len(logprobs):
                msg = f"{episode.task_id}: ids, env mask and log-probs differ in length"
                raise EpisodeInvariantError(msg)
            out["prompt_ids"].append(list(episode.prompt_ids))
            out["completion_ids"].append(ids)
            out["env_mask"].append(mask)
            out["logprobs"].append(logprobs)
            out["episode_reward"].append(episode.total_reward)
            out[EPISODE].append(episode)
        mode = "train" if trainer.model.training else "eval"
        for name, value in summary.items():
            trainer._metrics[mode][f"episodes/{name}"].append(value)
        trainer._metrics[mode]["time/generation"].append(self.timing.generation)
        trainer._metrics[mode]["time/sandbox"].append(self.timing.sandbox)
        return out

    def _play(self, model: Any, tasks: Sequence[RepairTask]) -> list[Episode]:
        """`run_episodes` with this rollout's settings (``self.sampler`` or ``model.generate``)."""
        return run_episodes(
            model, self.tokenizer, tasks, sandbox=self.sandbox, env_config=self.env_config,
            config=self.config, constraint=self.constraint, chat=self.chat, timing=self.timing,
            sampler=self.sampler,
        )

    def _write_trajectories(self, trainer: Any) -> None:
        if self.trajectories is None or self.trajectories_per_step <= 0:
            return
        rows = [{"step": trainer.state.global_step, **episode.as_record()}
                for episode in self.episodes[: self.trajectories_per_step]]
        write_jsonl(self.trajectories, rows, append=True)
