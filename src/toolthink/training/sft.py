"""Supervised fine-tuning on Chain-of-Edits demonstrations (Rainone et al., 2025, section 3).

The model learns to emit one editor command per turn from verified
demonstrations (`toolthink.data.demos`), with the loss on its own command and
end-of-turn tokens only (`toolthink.training.sft_data`). Trainer: TRL's
``SFTTrainer``; adapter: peft LoRA, rank 16 on all linear layers by default (the
paper's setting), or full fine-tuning.

The model is loaded by `toolthink.models.loader.load_model`, the LoRA settings
built by `toolthink.models.lora.lora_config` (TRL's ``get_peft_config``). On
CPU the trainer computes the loss with the model's own cross-entropy
(`toolthink.training.sft_trainer.CommandSFTTrainer`).

With ``eval_episodes`` above 0, `toolthink.training.sft_eval.EpisodeEvaluation`
plays greedy, grammar-constrained episodes on held-out tasks during training
and logs how they went.

The output folder (`SFTScriptArguments` and TRL's ``SFTConfig.output_dir``)
holds the adapter or model, the tokenizer, ``toolthink_sft.json`` (the resolved
configuration), ``metrics.json``, ``loss_curve.png`` and ``README.md``
(`toolthink.training.sft_report`), and ``eval_episodes.jsonl`` when the hook ran.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trl.trainer.sft_config import SFTConfig

from toolthink.commands import model_path_problem, output_dir_problem, resume_checkpoint
from toolthink.env import PROMPT_VERSIONS, EnvConfig, TrainingFormat
from toolthink.models.devices import DTYPES, training_dtype
from toolthink.models.loader import load_model, resolve_model_path
from toolthink.models.lora import lora_config
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.episodes import RolloutConfig
from toolthink.training.sft_args import SFTConfigError, SFTScriptArguments, check_training_config
from toolthink.training.sft_data import (
    DemoDataError,
    EncodedDemos,
    build_embedded_demos,
    encode_demos,
    read_demos,
    select_splits,
)
from toolthink.training.sft_eval import EpisodeEvaluation
from toolthink.training.sft_report import write_report
from toolthink.training.sft_trainer import CommandSFTTrainer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["SFTResult", "check_inputs", "load_model_and_tokenizer", "prepare_data", "train_sft"]

logger = logging.getLogger(__name__)

DemoSplits = tuple[list[dict[str, Any]], list[dict[str, Any]] | None]
"""The train records and the evaluation records (None without ``eval_splits``)."""


def _read_splits(args: SFTScriptArguments, demos: str) -> DemoSplits:
    """Read ``demos`` once and pick the train and evaluation splits from it."""
    everything = read_demos(demos)
    train = select_splits(everything, args.train_splits, demos)
    evaluation = select_splits(everything, args.eval_splits, demos) if args.eval_splits else None
    return train, evaluation


def check_inputs(args: SFTScriptArguments, config: SFTConfig) -> DemoSplits | None:
    """Reject paths that cannot work, before the model loads.

    Checks that ``output_dir`` can be a folder, that a ``model_name_or_path``
    written as a path exists (transformers would call it a bad hub id), and
    reads ``demos`` (a bad line would otherwise surface after the model loads).

    Returns:
        The records read from ``demos`` (train, evaluation), for `prepare_data`;
        None without ``demos``.

    Raises:
        SFTConfigError: ``output_dir`` or ``model_name_or_path`` unusable.
        DemoDataError: ``demos`` missing, not JSONL, or without the splits.
    """
    for problem in (output_dir_problem(str(config.output_dir)),
                    model_path_problem("model_name_or_path", args.model_name_or_path)):
        if problem is not None:
            raise SFTConfigError(problem)
    return None if args.demos is None else _read_splits(args, args.demos)


@dataclass
class SFTResult:
    """What a run produced.

    Attributes:
        output_dir: The output folder.
        metrics: The contents of ``metrics.json``.
    """

    output_dir: Path
    metrics: dict[str, Any]


def prepare_data(
    args: SFTScriptArguments, config: SFTConfig, tokenizer: PreTrainedTokenizerBase,
    demos: DemoSplits | None = None,
) -> tuple[EncodedDemos, EncodedDemos | None]:
    """Read or build the demonstrations and tokenize them (train, optional eval).

    Args:
        args: toolthink's options (``demos``, splits, ``max_demos``, ``overlong``).
        config: TRL's options (``max_length`` in tokens).
        tokenizer: The model's tokenizer.
        demos: The records `check_inputs` read from ``args.demos``; read here
            when None. Unused without ``args.demos`` (built from the embedded corpus).

    Raises:
        DemoDataError: No usable demonstration, or they were rendered with
            another prompt version than this toolthink renders (``toolthink
            eval`` would refuse the trained adapter).
    """
    chat = ChatFormat.from_tokenizer(tokenizer)
    eval_records = None
    if args.demos is None:
        train_records = build_embedded_demos(args.embedded_per_problem, seed=0,
                                             splits=args.train_splits)
    else:
        train_records, eval_records = demos or _read_splits(args, args.demos)
    if args.max_demos is not None:
        train_records = train_records[: args.max_demos]
    train = encode_demos(train_records, chat, config.max_length, args.overlong)
    logger.info("Training data: %s", train.summary())
    evaluation = None
    if eval_records is not None:
        evaluation = encode_demos(eval_records, chat, config.max_length, args.overlong)
    for encoded in (train, evaluation):
        if encoded is None:
            continue
        if encoded.training_format is not train.training_format:
            msg = (f"demos={args.demos!r}: the train splits are {train.training_format.value} "
                   f"demonstrations, the eval splits {encoded.training_format.value}: a model "
                   "learns one format; rebuild them with one `--format`")
            raise DemoDataError(msg)
        expected = PROMPT_VERSIONS[encoded.training_format]
        if encoded.prompt_version != expected:
            msg = (f"demos={args.demos!r} were rendered with prompt version "
                   f"{encoded.prompt_version!r} but this toolthink renders {expected!r}: "
                   "`toolthink eval` would refuse the trained model; rebuild them with "
                   "`toolthink data demos --out DIR`")
            raise DemoDataError(msg)
    return train, evaluation


def load_model_and_tokenizer(
    args: SFTScriptArguments, config: SFTConfig,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the causal LM (in train mode, on the CPU for the trainer to place) and its tokenizer.

    ``dtype: auto`` loads the weights in `toolthink.models.devices.training_dtype`
    of the trainer's precision flags: float32 on a CPU run, whose ``bf16``
    autocasts the matmuls and keeps float32 master weights.

    Raises:
        ModelLoadError: transformers cannot load it (no such folder or cached id).
    """
    dtype = (training_dtype(bf16=bool(config.bf16), fp16=bool(config.fp16),
                            use_cpu=bool(config.use_cpu), lora=not args.full_finetune)
             if args.dtype == "auto" else DTYPES[args.dtype])
    return load_model(args.model_name_or_path, device=None, dtype=dtype,
                      cache_dir=args.cache_dir, option="model_name_or_path")


def _peft_config(args: SFTScriptArguments) -> Any:
    """The LoRA settings of ``args``; None for full fine-tuning."""
    if args.full_finetune:
        return None
    return lora_config(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout,
                       targets=args.lora_target_modules)


def _episode_evaluation(
    args: SFTScriptArguments, config: SFTConfig, trainer: CommandSFTTrainer,
    tokenizer: PreTrainedTokenizerBase, training_format: TrainingFormat,
) -> EpisodeEvaluation | None:
    """The held-out episode hook, added to ``trainer``; None when ``eval_episodes`` is 0.

    The hook plays Chain-of-Edits episodes: a model trained on direct answers
    gets none (logged), and is scored by ``toolthink eval --mode direct``.

    Raises:
        SFTConfigError: Parameters are sharded (FSDP, DeepSpeed ZeRO-3): the
            main process alone cannot generate.
    """
    if args.eval_episodes == 0:
        return None
    if training_format is not TrainingFormat.CHAIN_OF_EDITS:
        logger.warning("eval_episodes=%d skipped: the hook plays Chain-of-Edits episodes and "
                       "this model learns %s answers; score it with `toolthink eval --mode "
                       "direct`", args.eval_episodes, training_format.value)
        return None
    deepspeed = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    if trainer.is_fsdp_enabled or getattr(deepspeed, "zero_stage", 0) == 3:
        msg = (f"eval_episodes={args.eval_episodes} under FSDP or DeepSpeed ZeRO-3: the "
               "episodes run on the main process and cannot gather sharded parameters; pass "
               "--eval_episodes 0 and evaluate the output folder with `toolthink eval`")
        raise SFTConfigError(msg)
    hook = EpisodeEvaluation(
        tokenizer, str(config.output_dir), log=trainer.log_as_is,
        episodes=args.eval_episodes, every_steps=args.eval_every_steps,
        env_config=EnvConfig(max_turns=args.eval_max_turns),
        rollout=RolloutConfig(max_new_tokens=args.eval_max_new_tokens, temperature=0.0),
        append=resume_checkpoint(config.resume_from_checkpoint) is not None,
    )
    trainer.add_callback(hook)
    return hook


def train_sft(args: SFTScriptArguments, config: SFTConfig) -> SFTResult:
    """Fine-tune a causal LM on demonstrations and write the output folder.

    Args:
        args: toolthink's options (model, data, adapter).
        config: TRL's trainer options (``output_dir``, ``max_length`` in tokens,
            batch sizes, steps, ``resume_from_checkpoint``: a checkpoint folder or
            ``true`` for the last one in ``output_dir``).

    Returns:
        The output folder and the metrics written there.

    Raises:
        SFTConfigError: settings that cannot run here, or an unusable path
            (`check_inputs`), before the model loads.
        DemoDataError: no usable demonstration.
    """
    check_training_config(config)
    demos = check_inputs(args, config)
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(args, config)
    train, evaluation = prepare_data(args, config, tokenizer, demos)
    trainer = CommandSFTTrainer(
        model=model,
        args=config,
        train_dataset=train.dataset.remove_columns("id"),
        eval_dataset=None if evaluation is None else evaluation.dataset.remove_columns("id"),
        processing_class=tokenizer,
        peft_config=_peft_config(args),
        model_loss=args.model_loss,
    )
    hook = _episode_evaluation(args, config, trainer, tokenizer, train.training_format)
    try:
        resume = resume_checkpoint(config.resume_from_checkpoint)
        output = trainer.train(resume_from_checkpoint=resume)
    finally:
        if hook is not None:
            hook.close()
    trainer.save_model(config.output_dir)
    out = Path(str(config.output_dir))
    metrics: dict[str, Any] = {
        "train": dict(output.metrics),
        "global_step": output.global_step,
        "seconds_per_step": output.metrics.get("train_runtime", 0.0) / max(output.global_step, 1),
        "wall_seconds": time.perf_counter() - started,
        "world_size": trainer.accelerator.num_processes,
        "data": {"train": train.summary(),
                 "eval": None if evaluation is None else evaluation.summary(),
                 "overlong_note": train.overlong_note(config.max_length)},
        "trainable_parameters": sum(int(p.numel()) for p in model.parameters()
                                    if p.requires_grad),
        "log_history": trainer.state.log_history,
    }
    if evaluation is not None:
        last = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
        final = last is not None and last.get("step") == output.global_step
        metrics["eval"] = dict(last) if final and last is not None else trainer.evaluate()
    if hook is not None and hook.history:
        metrics["eval_episodes"] = hook.history[-1]
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        write_report(out, args=args, config=config, metrics=metrics,
                     model_path=resolve_model_path(args.model_name_or_path, args.cache_dir),
                     prompt_version=train.prompt_version,
                     training_format=train.training_format.value)
    logger.info("SFT done in %.0f s: %s", metrics["wall_seconds"], out)
    if metrics["data"]["overlong_note"]:  # again at the end, where a reader looks
        logger.warning("%s", metrics["data"]["overlong_note"])
    return SFTResult(out, metrics)

