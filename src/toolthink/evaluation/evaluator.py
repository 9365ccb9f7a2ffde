"""Run a model on an evaluation set in both modes and score it with pass@k.

Chain-of-Edits: `toolthink.rollout.episodes.run_episodes` plays each task
``samples`` times with the grammar-constrained decoder (the same episodes RL
trains on). Direct answer: `toolthink.evaluation.direct.run_direct` answers
each task ``samples`` times. An attempt counts as a repair when the final code
passes the task's tests in the sandbox (and, for an episode, it was not cut
before ``EXIT``). pass@k is the unbiased estimator (`toolthink.evaluation.metrics`),
overall and per bug kind.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import attrs
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from toolthink.env import PROMPT_VERSION
from toolthink.evaluation.datasets import bug_kind
from toolthink.evaluation.direct import DIRECT_PROMPT_VERSION, run_direct
from toolthink.evaluation.episode_view import End
from toolthink.evaluation.eval_config import MODES, EvalConfig
from toolthink.evaluation.journal import EvalJournal
from toolthink.evaluation.metrics import episode_stats, pass_by_turn_budget, summarize
from toolthink.evaluation.records import direct_record, episode_record
from toolthink.rollout.episodes import RolloutConfig, Turn, run_episodes
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

__all__ = ["MODES", "EvalConfig", "ModeResult", "evaluate"]

logger = logging.getLogger(__name__)

@attrs.frozen
class ModeResult:
    """One mode's scores and its episode records.

    Attributes:
        mode: ``"chain-of-edits"`` or ``"direct"``.
        summary: `toolthink.evaluation.metrics.summarize` output ("all" and bug kinds).
        mean_turns: Commands per episode (1 for direct answers).
        mean_generated_tokens: Model tokens per episode.
        seconds: Wall-clock seconds for the mode (its batches: generation and
            tests; the model load and the initial test run are outside every
            mode).
        records: One `toolthink show` record per attempt.
        stats: `toolthink.evaluation.metrics.episode_stats` (tokens per task and
            per solved task, turns, the share ending with ``EXIT``).
        turn_budget: `toolthink.evaluation.metrics.pass_by_turn_budget` for
            Chain-of-Edits (empty for direct answers).
    """

    mode: str
    summary: dict[str, dict[str, float]]
    mean_turns: float
    mean_generated_tokens: float
    seconds: float
    records: tuple[dict[str, Any], ...]
    stats: dict[str, float | None] = attrs.field(factory=dict)
    turn_budget: tuple[dict[str, float], ...] = ()

    @property
    def exit_rate(self) -> float | None:
        """Share of Chain-of-Edits episodes the model ended with ``EXIT``; None for direct.

        0 means every episode ran to the turn limit or the token budget, so
        `mean_turns` is that limit, not a choice of the model (issue 17).
        """
        if self.mode != "chain-of-edits" or not self.records:
            return None
        exits = sum(r.get("end") == End.EXIT for r in self.records)
        return float(exits) / len(self.records)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without the records."""
        return {"mode": self.mode, "pass_at_k": self.summary, "mean_turns": self.mean_turns,
                "exit_rate": self.exit_rate,
                "mean_generated_tokens": self.mean_generated_tokens, "seconds": self.seconds,
                "stats": self.stats, "turn_budget": list(self.turn_budget),
                "prompt_version": (PROMPT_VERSION if self.mode == "chain-of-edits"
                                   else DIRECT_PROMPT_VERSION)}


def _chunks(items: Sequence[tuple[RepairTask, int]], size: int) -> list[list[tuple[RepairTask,
                                                                                 int]]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _score(mode: str, tasks: Sequence[RepairTask], records: list[dict[str, Any]],
           config: EvalConfig, seconds: float) -> ModeResult:
    outcomes: dict[str, list[bool]] = {t.task_id: [] for t in tasks}
    for record in records:
        outcomes[record["task_id"]].append(bool(record["passed"]))
    groups = {t.task_id: kind for t in tasks if (kind := bug_kind(t)) is not None}
    count = max(len(records), 1)
    return ModeResult(
        mode=mode, summary=summarize(outcomes, config.ks, groups),
        mean_turns=sum(len(r["turns"]) for r in records) / count,
        mean_generated_tokens=sum(int(r["generated_tokens"]) for r in records) / count,
        seconds=seconds, records=tuple(records), stats=episode_stats(records),
        turn_budget=(tuple(pass_by_turn_budget(records, config.env.max_turns))
                     if mode == "chain-of-edits" else ()),
    )


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[RepairTask],
    *,
    sandbox: SandboxPool,
    config: EvalConfig | None = None,
    progress: Callable[[str, int, float], None] | None = None,
    on_turn: Callable[[str, Turn], None] | None = None,
    adapter_off: Collection[str] = (),
    journal: EvalJournal | None = None,
) -> list[ModeResult]:
    """Evaluate ``model`` on ``tasks`` in each configured mode.

    Args:
        model: A causal LM (or peft model).
        tokenizer: Its tokenizer, with a chat template.
        tasks: The evaluation set (task ids unique).
        sandbox: Runs every test.
        config: `EvalConfig()` when None.
        progress: Called with (mode, attempts finished, seconds in this mode
            so far) when a mode starts (0 finished) and after each batch; the
            seconds are measured by the same clock as `ModeResult.seconds`.
        on_turn: Called with (mode, `toolthink.rollout.episodes.Turn`) after
            each Chain-of-Edits turn (``Turn.episode`` indexes the batch).
        adapter_off: Modes played with the adapter disabled (``model`` a peft
            model): the base model, for a mode the adapter was not trained on.
        journal: Attempts already played (read back, not played again) and
            where each scored batch is appended (`toolthink.evaluation.journal`):
            an interrupted evaluation resumes. The mode's ``seconds`` then sum
            the batches of every run.

    Returns:
        One `ModeResult` per mode, in the order of ``config.modes``.

    Raises:
        ValueError: Two tasks share an id.
    """
    config = config or EvalConfig()
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        msg = "task ids must be unique: one outcome list per task"
        raise ValueError(msg)
    attempts = [(task, sample) for task in tasks for sample in range(config.samples)]
    rollout = RolloutConfig(max_new_tokens=config.max_new_tokens,
                            max_total_tokens=config.max_total_tokens,
                            temperature=config.temperature)
    # The tests' report on each buggy program, shown with every episode (`records`).
    initial = dict(zip(ids, (r.feedback for r in sandbox.run_batch(
        [(t.buggy_code, t.tests) for t in tasks], timeout=config.env.timeout)), strict=True))
    results = []
    for mode in config.modes:
        # A mode the adapter was not trained on runs on the base model (peft's
        # disable_adapter), as `toolthink eval --mode both` asks for (issue 16).
        with (model.disable_adapter() if mode in adapter_off  # type: ignore[operator]
              else contextlib.nullcontext()):
            done = journal.done(mode) if journal else {}
            earlier = journal.seconds(mode) if journal else 0.0
            started = time.perf_counter() - earlier
            if progress:
                progress(mode, 0, 0.0)
                if done:
                    progress(mode, len(done), earlier)
            played: dict[tuple[str, int], dict[str, Any]] = dict(done)
            todo = [(t, s) for t, s in attempts if (t.task_id, s) not in done]
            for chunk in _chunks(todo, config.batch):
                batch_started = time.perf_counter()
                records: list[dict[str, Any]] = []
                chunk_tasks = [task for task, _ in chunk]
                if mode == "chain-of-edits":
                    episodes = run_episodes(
                        model, tokenizer, chunk_tasks, sandbox=sandbox, env_config=config.env,
                        config=rollout,
                        on_turn=None if on_turn is None else functools.partial(on_turn, mode))
                    records += [episode_record(task, episode, sample=sample,
                                               bug_kind=bug_kind(task),
                                               initial_feedback=initial[task.task_id])
                                for (task, sample), episode in zip(chunk, episodes, strict=True)]
                else:
                    answers = run_direct(model, tokenizer, chunk_tasks, sandbox=sandbox,
                                         max_new_tokens=config.direct_max_new_tokens,
                                         temperature=config.temperature, timeout=config.env.timeout)
                    records += [direct_record(task, sample=sample, bug_kind=bug_kind(task),
                                              text=a.text, code=a.code, passed=a.passed,
                                              feedback=a.feedback,
                                              generated_tokens=a.generated_tokens,
                                              initial_feedback=initial[task.task_id])
                                for (task, sample), a in zip(chunk, answers, strict=True)]
                if journal:
                    journal.add(mode, records, time.perf_counter() - batch_started)
                played.update(((r["task_id"], int(r["sample"])), r) for r in records)
                if progress:
                    progress(mode, len(chunk), time.perf_counter() - started)
            in_order = [played[t.task_id, s] for t, s in attempts]
            result = _score(mode, tasks, in_order, config, time.perf_counter() - started)
            logger.info("%s: %s", mode, result.summary.get("all"))
            results.append(result)
    return results
