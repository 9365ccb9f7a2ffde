"""Evaluation during SFT: greedy, grammar-constrained Chain-of-Edits episodes on held-out tasks.

`EpisodeEvaluation` is a ``transformers.TrainerCallback``. Every ``every_steps``
optimizer steps, and at the last step, it plays one episode per held-out task
with the decoder and environment that RL trains with and ``toolthink eval``
scores (`toolthink.rollout.episodes.run_episodes`: llguidance masks from
`toolthink.rollout.grammars`, greedy decoding, token-in/token-out), on the
tasks of ``toolthink eval --dataset embedded`` (`toolthink.data.heldout.embedded_test_tasks`:
the embedded corpus' ``test`` split, which SFT never trains on). It logs
`episode_metrics` under ``eval_episodes/`` through the trainer's log (so the
figures land in ``metrics.json``'s log history and in tensorboard or wandb) and
appends the episodes to ``eval_episodes.jsonl`` in the output folder.

Loss on held-out demonstrations (``--eval_splits``) says how well the model
imitates; these episodes say whether it repairs: the paper's measure
(Rainone et al., arXiv 2507.05065, section 5).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from toolthink.data.heldout import embedded_test_tasks
from toolthink.env import EnvConfig
from toolthink.jsonl import write_jsonl
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import Episode, RolloutConfig, RolloutTiming, run_episodes
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool
from toolthink.training.rl_log import step_metrics

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["EPISODES_FILE", "PREFIX", "EpisodeEvaluation", "episode_metrics"]

logger = logging.getLogger(__name__)

EPISODES_FILE = "eval_episodes.jsonl"
"""The output folder's file of evaluation episodes, one JSON line each."""

PREFIX = "eval_episodes/"
"""Prefix of the logged keys (tensorboard shows them as ``eval/episodes/...``)."""


def episode_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """The logged figures of one evaluation.

    Returns:
        ``pass_rate`` (episodes whose code passes at the end, not cut),
        ``mean_turns`` (commands per episode), ``exit_rate`` (episodes the
        model ended with ``EXIT``), ``malformed_rate`` (malformed / all
        commands, as in RL's `toolthink.training.rl_log.step_metrics`),
        ``truncated_rate`` (cut by the turn or token budget), ``sampled_tokens``
        (model tokens per episode) and ``episodes``.
    """
    figures = step_metrics(episodes)
    return {
        "pass_rate": figures["pass_rate"],
        "mean_turns": figures["turns"],
        "exit_rate": statistics.fmean(float(e.exited) for e in episodes),
        "malformed_rate": figures["malformed_rate"],
        "truncated_rate": figures["truncated_rate"],
        "sampled_tokens": figures["sampled_tokens"],
        "episodes": float(len(episodes)),
    }


class EpisodeEvaluation(TrainerCallback):
    """Plays held-out repair episodes during training and logs how they went.

    Runs on the main process only (the others wait at their next step); the
    sandbox pool opens at the first evaluation and closes with `close`.

    Args:
        tokenizer: The trained model's tokenizer (chat template, EOS token).
        output_dir: Where ``eval_episodes.jsonl`` goes.
        log: Receives the figures once per evaluation (the trainer's log).
        episodes: Tasks played per evaluation (the first ones; at most the
            held-out tasks there are).
        every_steps: Evaluate every this many optimizer steps; 0: at the last
            step only.
        env_config: Episode settings (``max_turns``: commands per episode).
        rollout: Decoding settings (``temperature`` 0: greedy).
        tasks: The held-out tasks; None: the embedded corpus' test split,
            built at the first evaluation.
        append: Keep an existing ``eval_episodes.jsonl`` (a resumed run);
            otherwise it is removed now.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        output_dir: str | Path,
        *,
        log: Callable[[dict[str, float]], None],
        episodes: int,
        every_steps: int = 0,
        env_config: EnvConfig | None = None,
        rollout: RolloutConfig | None = None,
        tasks: Sequence[RepairTask] | None = None,
        append: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.path = Path(output_dir) / EPISODES_FILE
        self.log = log
        self.episodes = episodes
        self.every_steps = every_steps
        self.env_config = env_config or EnvConfig()
        self.rollout = rollout or RolloutConfig(temperature=0.0)
        self.history: list[dict[str, float]] = []
        self._tasks = None if tasks is None else list(tasks)[:episodes]
        self._pool: SandboxPool | None = None
        self._constraint: GrammarConstraint | None = None
        self._last_step = -1
        if not append:
            self.path.unlink(missing_ok=True)

    def _due(self, step: int, max_steps: int) -> bool:
        if step == self._last_step:
            return False
        periodic = self.every_steps > 0 and step % self.every_steps == 0
        return periodic or step >= max_steps

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluate when the step is due (every ``every_steps``, and the last)."""
        if state.is_world_process_zero and self._due(state.global_step, state.max_steps):
            self.evaluate(kwargs["model"], state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the sandbox pool."""
        self.close()

    def evaluate(self, model: PreTrainedModel, step: int) -> dict[str, float]:
        """Play the held-out episodes with ``model`` now; log and record them.

        The model is put in eval mode (no dropout) for the episodes and back in
        train mode after.

        Args:
            model: The model being trained (peft or plain).
            step: The optimizer step the figures are logged at.

        Returns:
            The logged figures, unprefixed, with ``step`` and ``seconds``.
        """
        started = time.perf_counter()
        if self._pool is None:
            self._pool = SandboxPool()
        if self._tasks is None:
            self._tasks = embedded_test_tasks(self._pool, timeout=self.env_config.timeout)
            self._tasks = self._tasks[: self.episodes]
            if len(self._tasks) < self.episodes:
                logger.warning("eval_episodes=%d but the held-out split gives %d tasks: "
                               "playing %d", self.episodes, len(self._tasks), len(self._tasks))
        if self._constraint is None:
            self._constraint = GrammarConstraint.for_tokenizer(
                self.tokenizer, vocab_size=int(model.config.vocab_size))
        training = model.training
        model.train(False)
        timing = RolloutTiming()
        try:
            played = run_episodes(model, self.tokenizer, self._tasks, sandbox=self._pool,
                                  env_config=self.env_config, config=self.rollout,
                                  constraint=self._constraint, timing=timing)
        finally:
            model.train(training)
        figures = {**episode_metrics(played), "seconds": time.perf_counter() - started}
        self.log({PREFIX + key: value for key, value in figures.items()})
        write_jsonl(self.path, ({"step": step, **episode.as_record(), "exited": episode.exited,
                                 "malformed": episode.malformed} for episode in played),
                    append=True)
        self._last_step = step
        result = {"step": float(step), **figures}
        self.history.append(result)
        logger.info("Held-out episodes at step %d: pass %.2f, EXIT %.2f, malformed %.2f, "
                    "%.1f turns (%.0f s, generation %.0f s)", step, figures["pass_rate"],
                    figures["exit_rate"], figures["malformed_rate"], figures["mean_turns"],
                    figures["seconds"], timing.generation)
        return result

    def close(self) -> None:
        """Close the sandbox pool (a later evaluation opens a new one)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
