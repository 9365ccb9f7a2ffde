"""Multi-turn GRPO on repair episodes: TRL's `GRPOTrainer` driven by a ``rollout_func``.

TRL 1.16 calls ``rollout_func(prompts, trainer)`` with each dataset prompt
repeated once per generation; `EpisodeRollout` plays one
`toolthink.rollout.episodes.Episode` per entry (all of a step's episodes
batched, tests in one sandbox pool) and returns ``prompt_ids``,
``completion_ids``, ``env_mask`` (environment tokens 0: never trained on),
``logprobs`` (the sampler's), for the reward function ``episode_reward``, and
``episode`` (each row's `Episode`, which TRL copies into the rows the trainer's
per-turn advantages are computed from).

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
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl.models.utils import unwrap_model_for_generation
from trl.trainer.grpo_trainer import GRPOTrainer

from toolthink.data.corruption import corrupt, normalize_newlines
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
from toolthink.tool import SandboxPool
from toolthink.training.advantages import per_turn_advantages, token_advantages
from toolthink.training.rl_log import step_metrics

__all__ = [
    "EPISODE",
    "ChainOfEditsTrainer",
    "EpisodeRollout",
    "TokenScoring",
    "easy_tasks",
    "episode_reward",
    "lora_parameters",
    "replayed_masks",
    "scored_log_probs",
]

logger = logging.getLogger(__name__)

EPISODE = "episode"
"""The rollout's extra field that carries each row's `Episode` into TRL's inputs."""


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
    edits, `toolthink.data.corruption`).

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
    donors = [line for p in problems
              for line in normalize_newlines(p.solution).split("\n") if line.strip()]
    candidates: list[RepairTask] = []
    for problem in problems:
        rng = random.Random(f"{seed}:{problem.task_id}")
        seen: set[str] = set()
        for _ in range(per_problem):
            result = corrupt(problem.solution, rng, donors=donors, edits=edits)
            if result is None or result.corrupted in seen:
                continue
            seen.add(result.corrupted)
            notes = "synthetic bug: " + ", ".join(result.kinds)
            candidates.append(problem.with_bug(result.corrupted, notes=notes))
    reports = sandbox.run_batch([(t.buggy_code, t.tests) for t in candidates], timeout=timeout)
    return [t for t, r in zip(candidates, reports, strict=True) if not r.passed]


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
        self.trajectories.parent.mkdir(parents=True, exist_ok=True)
        with self.trajectories.open("a", encoding="utf-8") as f:
            for episode in self.episodes[: self.trajectories_per_step]:
                record = {"step": trainer.state.global_step, **episode.as_record()}
                f.write(json.dumps(record) + "\n")


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
