"""``toolthink-train rl``: multi-turn GRPO on repair episodes (TRL script convention).

Usage::

    toolthink-train rl --config configs/rl_cpu.yaml [--flag value ...]

Writes into ``output_dir``: the adapter (or model) and tokenizer, ``rl_config.json``
(the resolved config), ``toolthink_rl.json`` (the prompt version, checked by
``toolthink eval --adapter``), ``metrics.jsonl`` (one line per step: mean reward, pass
rate, turns, malformed rate, tokens, time split), ``curves.png`` (``curves.md``, a
table, for a run of fewer than 3 steps),
``trajectories.jsonl`` (sample episodes) and ``tasks.json`` (the task ids).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from toolthink.commands import config_file_problem, model_path_problem, resume_checkpoint
from toolthink.env import PROMPT_VERSION, check_prompt_version
from toolthink.errors import ToolthinkError
from toolthink.models.deprecations import silence_upstream_deprecations
from toolthink.models.devices import cpu_fp16_problem, with_cpu_fix
from toolthink.models.loader import EMBEDDED, load_model
from toolthink.models.lora import lora_config
from toolthink.tasks import (
    DatasetFormatError,
    DatasetNotFoundError,
    Problem,
    load_embedded_corpus,
    load_mbpp,
)
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool
from toolthink.training.rl_config import RLConfig

__all__ = [
    "NoTaskError",
    "PolicyLoadError",
    "check_inputs",
    "load_policy",
    "main",
    "make_parser",
    "rl_problems",
    "train",
]

logger = logging.getLogger(__name__)

CPU_CONFIG = "configs/rl_cpu.yaml"
"""The shipped config of a CPU run, named by the errors that need it."""

ADAPTER_FIX = ("start RL from an adapter trained with this toolthink (rebuild the demonstrations "
               "with `toolthink data demos` and rerun `toolthink-train sft`), or run RL with the "
               "toolthink version the adapter was trained with")
"""What to do when ``--adapter`` was trained on another prompt version."""


def make_parser() -> Any:
    """The ``TrlParser`` over `RLConfig` (``--config FILE.yaml`` plus flags)."""
    from trl.scripts.utils import TrlParser  # noqa: PLC0415

    classes: list[Any] = [RLConfig]
    return TrlParser(classes, prog="toolthink-train rl")


def check_inputs(config: RLConfig) -> None:
    """Check, before the model loads, what the run starts from and writes to.

    `RLConfig.check_paths` (``adapter`` and ``output_dir``), a
    ``model_name_or_path`` written as a path that does not exist, fp16 on a
    CPU run (as ``toolthink-train sft`` does), then the prompt version the
    adapter's SFT data was rendered with: RL on another prompt would train a
    model that ``toolthink eval`` refuses.

    Raises:
        ValueError: A path `RLConfig.check_paths` rejects, a missing model
            folder, or fp16 on a CPU run.
        PromptVersionError: ``adapter`` records another prompt version than
            `PROMPT_VERSION` (the message names the folder, both versions and the fix).
    """
    config.check_paths()
    problems = [
        model_path_problem("model_name_or_path", config.model_name_or_path or "embedded"),
        cpu_fp16_problem(fp16=bool(config.fp16), use_cpu=bool(config.use_cpu),
                         cpu_config=CPU_CONFIG),
    ]
    found = [p for p in problems if p is not None]
    if found:
        raise ValueError("; ".join(found))
    if config.adapter:
        check_prompt_version(config.adapter, fix=ADAPTER_FIX)


def load_policy(config: RLConfig) -> tuple[Any, Any, Any]:
    """Model, tokenizer and peft config (None when the model already has an adapter).

    Loaded by `toolthink.models.loader.load_model`, on the CPU for the trainer
    to place, in `RLConfig.policy_dtype` (float32 on a CPU run, where ``bf16``
    autocasts; bfloat16 with ``bf16`` on a GPU); a LoRA adapter's own weights
    stay float32 (peft's ``autocast_adapter_dtype``). An ``adapter`` is trained
    further with ``config.lora_dropout`` in place of its own (0.05 in older SFT
    adapters), so sampling (eval mode) and the loss see one policy.
    """
    model, tokenizer = load_model(
        config.model_name_or_path or EMBEDDED, config.adapter or None, device=None,
        dtype=config.policy_dtype(), trainable=True, adapter_dropout=config.lora_dropout,
        option="model_name_or_path", adapter_option="adapter",
    )
    return model, tokenizer, None if config.adapter else _lora(config)


def _lora(config: RLConfig) -> Any:
    """The LoRA settings of a fresh adapter; None for full fine-tuning (``use_lora: false``)."""
    if not config.use_lora:
        return None
    return lora_config(r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                       targets=config.lora_target_modules)


def rl_problems(config: RLConfig) -> list[Problem]:
    """The train-split problems of ``config.task_source``, the first ``max_problems`` of them.

    Only the train split: evaluation uses the held-out problems (the embedded
    corpus' ``test`` split by `toolthink.tasks.splits.split_of`; MBPP's
    ``test``, ``validation`` and ``prompt`` splits by
    `toolthink.tasks.splits.mbpp_split`).

    Raises:
        DatasetNotFoundError: ``task_source='mbpp'`` and the MBPP file is not
            in ``data_dir``.
        DatasetFormatError: The MBPP file has a row without a field.
    """
    if config.task_source == "mbpp":
        assert config.data_dir is not None  # RLConfig.__post_init__ resolved it
        source: Sequence[Problem] = load_mbpp(config.data_dir)
    else:
        source = load_embedded_corpus()
    problems = [p for p in source if split_of(p.task_id) == "train"]
    return problems[: config.max_problems] if config.max_problems is not None else problems


def train(
    config: RLConfig,
    *,
    model: Any = None,
    tokenizer: Any = None,
    problems: Sequence[Problem] | None = None,
) -> Any:
    """Run multi-turn GRPO and save its outputs under ``config.output_dir``.

    Args:
        config: The run's settings.
        model: A model to train instead of loading one (tests pass a tiny one;
            LoRA is added per ``config``).
        tokenizer: Its tokenizer (required with ``model``).
        problems: Problems to corrupt (default: `rl_problems`, the train split of
            ``config.task_source``); ``max_problems`` applies to them too.

    Returns:
        The `ChainOfEditsTrainer` after training (its ``model`` is the policy).
    """
    from datasets import Dataset  # noqa: PLC0415

    from toolthink.training.rl import easy_tasks  # noqa: PLC0415
    from toolthink.training.rl_log import StepRecorder, plot_curves  # noqa: PLC0415
    from toolthink.training.rl_rollout import EpisodeRollout, episode_reward  # noqa: PLC0415
    from toolthink.training.rl_trainer import ChainOfEditsTrainer  # noqa: PLC0415

    if problems is None:
        problems = rl_problems(config)  # before the model loads: a missing file fails fast
    elif config.max_problems is not None:
        problems = problems[: config.max_problems]
    problems = list(problems)
    out = config.create_output_dir()
    resume = resume_checkpoint(config.resume_from_checkpoint)
    if resume is None:  # a fresh run; a resumed one appends its steps
        for stale in ("metrics.jsonl", "trajectories.jsonl"):
            (out / stale).unlink(missing_ok=True)
    with SandboxPool() as sandbox:
        tasks = easy_tasks(problems, sandbox, edits=config.edits,
                           per_problem=config.tasks_per_problem, seed=config.task_seed,
                           timeout=config.test_timeout)
        if not tasks:  # before the model loads
            msg = (f"none of the synthetic bugs made from {len(problems)} problem(s) "
                   f"(edits={config.edits}, tasks_per_problem={config.tasks_per_problem}, "
                   f"task_seed={config.task_seed}) failed its tests, so RL has no task: raise "
                   "tasks_per_problem or max_problems, or try another task_seed")
            raise NoTaskError(msg)
        model, tokenizer, peft_config = _policy(config, model, tokenizer)
        env_config = config.env_config()
        by_key = {f"{t.task_id}#{i}": t for i, t in enumerate(tasks)}
        (out / "tasks.json").write_text(json.dumps(
            {k: {"task_id": t.task_id, "buggy_code": t.buggy_code} for k, t in by_key.items()},
            indent=1))
        dataset = Dataset.from_dict({"prompt": list(by_key)})
        rollout = EpisodeRollout(
            tasks=by_key, tokenizer=tokenizer, sandbox=sandbox, env_config=env_config,
            config=config.rollout_config(), trajectories=out / "trajectories.jsonl",
            trajectories_per_step=config.trajectories_per_step,
        )
        recorder = StepRecorder(rollout, out / "metrics.jsonl")
        trainer = ChainOfEditsTrainer(
            model=model, reward_funcs=[episode_reward], args=config, train_dataset=dataset,
            processing_class=tokenizer, peft_config=peft_config, rollout=rollout,
            advantage=config.advantage, gamma=config.gamma, mask_replay=config.mask_replay,
            callbacks=[recorder],
        )
        logger.info("RL on %d tasks from %d %s problems; output in %s", len(tasks), len(problems),
                    config.task_source, out)
        trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "rl_config.json").write_text(str(config.to_json_string()))  # type: ignore[no-untyped-call]
    # What `toolthink eval --adapter` checks (toolthink*.json): the prompt the episodes used.
    (out / "toolthink_rl.json").write_text(json.dumps(
        {"prompt_version": PROMPT_VERSION, "task_source": config.task_source,
         "adapter": config.adapter, "steps": trainer.state.global_step}, indent=1))
    if recorder.records:
        plot_curves(recorder.records, out / "curves.png")
    return trainer


def _policy(config: RLConfig, model: Any, tokenizer: Any) -> tuple[Any, Any, Any]:
    """`load_policy` unless ``model`` is given; the tokenizer gets a pad token.

    Raises:
        PolicyLoadError: transformers, peft or the hub refused to load it.
    """
    if model is None:
        try:
            model, tokenizer, peft_config = load_policy(config)
        except (OSError, ValueError, KeyError) as e:  # transformers / peft / the hub
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            msg = (f"model_name_or_path={config.model_name_or_path!r}"
                   + (f" with adapter={config.adapter!r}" if config.adapter else "")
                   + f" could not be loaded ({first}): pass a model folder, 'embedded', or a "
                   "hub id that is in the local Hugging Face cache or reachable")
            raise PolicyLoadError(msg) from e
    else:
        peft_config = _lora(config)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, peft_config


class PolicyLoadError(ToolthinkError, ValueError):
    """The policy (model, tokenizer, adapter) could not be loaded."""


class NoTaskError(ToolthinkError, ValueError):
    """No synthetic bug of the RL problems failed its tests: there is nothing to train on."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (``--config FILE.yaml`` and flags) and train; returns the exit status."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    silence_upstream_deprecations()
    args = list(sys.argv[1:] if argv is None else argv)
    problem = config_file_problem(args, CPU_CONFIG)
    if problem is not None:  # before TrlParser, which raises FileNotFoundError from inside TRL
        sys.stderr.write(f"toolthink-train rl: {problem}\n")
        return 2
    parser = make_parser()
    try:
        (config,) = parser.parse_args_and_config(args)
    except ValueError as e:
        sys.stderr.write(f"toolthink-train rl: {with_cpu_fix(e, CPU_CONFIG)}\n")
        return 2
    try:
        check_inputs(config)
        problems = rl_problems(config)
        config.create_output_dir()
    except (DatasetNotFoundError, DatasetFormatError, ValueError) as e:
        sys.stderr.write(f"toolthink-train rl: {e}\n")
        return 2
    try:
        train(config, problems=problems)
    except (PolicyLoadError, NoTaskError) as e:
        sys.stderr.write(f"toolthink-train rl: {e}\n")
        return 2
    sys.stdout.write(f"RL outputs in {config.output_dir}\n")
    return 0


if __name__ == "__main__":  # `accelerate launch -m toolthink.training.rl_cli ...`
    sys.exit(main())
