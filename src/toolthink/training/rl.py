"""Multi-turn GRPO on repair episodes: TRL's `GRPOTrainer` driven by a ``rollout_func``.

TRL 1.16 calls ``rollout_func(prompts, trainer)`` with each dataset prompt
repeated once per generation; `EpisodeRollout` plays one
`toolthink.rollout.episodes.Episode` per entry (all of a step's episodes
batched, tests in one sandbox pool) and returns ``prompt_ids``,
``completion_ids``, ``env_mask`` (environment tokens 0: never trained on),
``logprobs`` (the sampler's) and, for the reward function, ``episode_reward``.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl.models.utils import unwrap_model_for_generation
from trl.trainer.grpo_trainer import GRPOTrainer

from toolthink.data.bugs import draw_bugs, failing_tasks
from toolthink.env import EnvConfig
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import (
    Episode,
    EpisodeInvariantError,
    RolloutConfig,
    RolloutTiming,
    run_episodes,
)
from toolthink.rollout.mask_replay import masked_log_probs, replay_masks
from toolthink.rollout.samplers import TurnSampler
from toolthink.rollout.vllm_server import VLLMServerSampler
from toolthink.tasks import Problem, RepairTask
from toolthink.tasks.bug_kinds import LINE_EDITS
from toolthink.tool import SandboxPool
from toolthink.training.advantages import per_turn_advantages, token_advantages
from toolthink.training.rl_log import step_metrics

__all__ = [
    "ChainOfEditsTrainer",
    "EpisodeRollout",
    "easy_tasks",
    "episode_reward",
    "lora_parameters",
    "replayed_masks",
]

logger = logging.getLogger(__name__)


def easy_tasks(
    problems: Sequence[Problem],
    sandbox: SandboxPool,
    *,
    edits: int = 1,
    per_problem: int = 2,
    seed: int = 0,
    timeout: float = 5.0,
) -> list[RepairTask]:
    """Synthetic bugs with ``edits`` edits each, kept only when their tests fail.

    The easy curriculum is ``edits=1``: one corrupted line (the paper's line
    edits), drawn by the maker demonstrations and evaluation use
    (`toolthink.data.bugs.draw_bugs`).

    Args:
        problems: Correct programs with tests (e.g. the embedded corpus).
        sandbox: Runs each candidate's tests once.
        edits: Edits per bug.
        per_problem: Bugs drawn per problem (duplicates dropped).
        seed: Random seed; the same seed gives the same tasks.
        timeout: Seconds per test run.

    Returns:
        Tasks whose buggy code fails its tests, in problem order.
    """
    bugs = draw_bugs(problems, seed=seed, per_problem=per_problem, min_edits=edits,
                     max_edits=edits, kinds=LINE_EDITS)
    return failing_tasks(bugs, sandbox, timeout=timeout)


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
            "prompt_ids", "completion_ids", "env_mask", "logprobs", "episode_reward")}
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
        self.trajectories.parent.mkdir(parents=True, exist_ok=True)
        with self.trajectories.open("a", encoding="utf-8") as f:
            for episode in self.episodes[: self.trajectories_per_step]:
                record = {"step": trainer.state.global_step, **episode.as_record()}
                f.write(json.dumps(record) + "\n")


class ChainOfEditsTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` with the paper's per-turn advantages as an option.

    Args:
        rollout: The `EpisodeRollout` also given as ``rollout_func``.
        advantage: ``"per_turn"`` or ``"sequence"`` (TRL's, unchanged).
        gamma: Discount of the returns-to-go.
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
        self._masks: torch.Tensor | None = None  # (B, C, W) grammar masks of the rows being scored
        self._scored: torch.Tensor | None = None  # (B, C) bool: the model's own tokens
        if advantage == "per_turn" and self.accelerator.num_processes > 1:
            logger.warning("per-turn advantages are normalised within each process's episodes: "
                           "keep per-device generation batches whole groups of num_generations")

    def _generate(self, prompts: list[Any]) -> Any:
        result = super()._generate(prompts)
        width = max(1, *(len(e.completion_ids) for e in self.rollout.episodes))
        scored = torch.zeros((len(self.rollout.episodes), width), dtype=torch.bool)
        for row, episode in enumerate(self.rollout.episodes):
            scored[row, : len(episode.env_mask)] = torch.tensor(episode.env_mask, dtype=torch.bool)
        self._scored = scored
        if self.mask_replay:  # the old and reference log-probs are scored under the masks too
            assert self.rollout.constraint is not None
            self._masks = replayed_masks(self.rollout.episodes, self.rollout.constraint, width)
        return result

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output: dict[str, Any] = super()._generate_and_score_completions(inputs)
        if self.advantage == "per_turn":
            output["advantages"] = self.per_token_advantages(output["completion_ids"].shape)
        if self._masks is not None:
            masks = self._masks
            width = output["completion_ids"].shape[1]
            if masks.shape[1] < width:  # TRL's pad_to_multiple_of
                extra = masks.new_full((masks.shape[0], width - masks.shape[1], masks.shape[2]), -1)
                masks = torch.cat([masks, extra], dim=1)
            output["grammar_masks"] = masks
            self._masks = None
        self._scored = None
        return output

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        self._masks = inputs.get("grammar_masks")
        scored = inputs["completion_mask"]
        if "tool_mask" in inputs:
            scored = scored * inputs["tool_mask"]
        self._scored = scored.bool()
        try:
            loss: torch.Tensor = super()._compute_loss(model, inputs)  # type: ignore[no-untyped-call]
        finally:
            self._masks = self._scored = None
        return loss

    def _get_per_token_logps_and_entropies(  # noqa: PLR0917 (TRL's signature)
        self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
        logits_to_keep: int, batch_size: int | None = None, compute_entropy: bool = False,
        compute_aux_loss: bool = False, **multimodal: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Log-probs of the model's own completion tokens, ``(B, C)``, under the grammar masks.

        Replaces TRL's fused LM-head kernel, which on CPU scores every position
        (prompt and environment text included) and cannot apply a mask. One
        row at a time, the LM head runs only at the positions that predict a
        model token (``logits_to_keep`` as indices; environment tokens, most
        of a multi-turn completion, get 0 and carry no loss), the logits are
        divided by the temperature and, with mask replay, renormalised over
        the tokens the grammar allowed
        (`toolthink.rollout.mask_replay.masked_log_probs`). Position ids
        follow the attention mask, as in ``generate`` with left padding.
        """
        scored = self._scored
        if (compute_aux_loss or scored is None
                or any(v is not None for v in multimodal.values())):
            result: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None] = (
                super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size,
                    compute_entropy, compute_aux_loss, **multimodal))
            return result
        rows, length = input_ids.shape
        logps, entropies = [], []
        for row in range(rows):
            ids, attention = input_ids[row:row + 1], attention_mask[row:row + 1]
            keep = scored[row, :logits_to_keep].nonzero().flatten().to(ids.device)  # (K,)
            logp = torch.zeros((1, logits_to_keep), device=ids.device)
            entropy = torch.zeros((1, logits_to_keep), device=ids.device)
            if keep.numel():
                positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
                at = keep + (length - logits_to_keep - 1)  # positions that predict kept tokens
                logits = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                               logits_to_keep=at, use_cache=False).logits
                logits = logits.float() / self.temperature  # (1, K, V)
                targets = ids[:, length - logits_to_keep + keep]  # (1, K)
                if self._masks is not None:
                    masks = self._masks[row:row + 1, keep.cpu()]
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
        return (torch.cat(logps, dim=0), torch.cat(entropies, dim=0) if compute_entropy else None,
                None)


    def per_token_advantages(self, shape: Sequence[int]) -> torch.Tensor:
        """The last rollout's per-turn advantages spread over tokens, ``(B, C)``."""
        episodes = self.rollout.episodes
        model: Any = self.model
        group: int | None = self.num_generations if model.training else self.num_generations_eval
        assert group is not None  # GRPOConfig fills both
        turns = per_turn_advantages([list(e.rewards) for e in episodes], group, gamma=self.gamma,
                                    scale=self.scale_rewards != "none")
        advantages = torch.zeros(tuple(shape), dtype=torch.float32)
        for row, (episode, values) in enumerate(zip(episodes, turns, strict=True)):
            per_token = token_advantages(values, episode.turn_of_token)
            advantages[row, : len(per_token)] = torch.tensor(per_token, dtype=torch.float32)
        return advantages.to(self.accelerator.device)


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


def lora_parameters(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """Copies of the trainable LoRA tensors, by name (to check that training moved them)."""
    return {n: p.detach().clone() for n, p in model.named_parameters()
            if p.requires_grad and "lora_" in n}
