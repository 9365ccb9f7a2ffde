"""Configuration of ``toolthink-train rl``: TRL's `GRPOConfig` plus the Chain-of-Edits fields.

Defaults follow the paper (Rainone et al., arXiv 2507.05065, section 4.2):
groups of 4 episodes per task, KL coefficient 0.01, clip epsilon 0.2, LoRA
rank 16 on all linear layers, up to 10 turns, +1 for the first fix, -0.5 for
a malformed command and for a missing ``EXIT``. Parsed by TRL's ``TrlParser``
from a YAML file (``--config``) and flags, like every TRL script.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers.trainer_utils import get_last_checkpoint
from trl.trainer.grpo_config import GRPOConfig

from toolthink.commands import output_dir_problem, resume_checkpoint
from toolthink.env import EnvConfig
from toolthink.models.devices import resolve_trainer_bf16, training_dtype
from toolthink.rollout.episodes import RolloutConfig

__all__ = ["ADVANTAGES", "DATA_DIR_ENV", "TASK_SOURCES", "RLConfig", "vllm_installed"]

ADVANTAGES = ("per_turn", "sequence")
TASK_SOURCES = ("embedded", "mbpp")
DATA_DIR_ENV = "TOOLTHINK_DATA_DIR"
"""Environment variable naming the benchmark folder when ``data_dir`` is not set."""


def vllm_installed() -> bool:
    """Whether vLLM can be imported here (looked up, not imported)."""
    return importlib.util.find_spec("vllm") is not None


@dataclass
class RLConfig(GRPOConfig):
    """`trl.GRPOConfig` with the model, task, episode and advantage settings of toolthink RL."""

    beta: float = field(
        default=0.01, metadata={"help": "KL coefficient against the starting policy (paper: 0.01)."}
    )
    num_generations: int | None = field(
        default=4, metadata={"help": "Episodes per task, the GRPO group (paper: 4)."}
    )
    vllm_mode: str = field(
        default="server",
        metadata={"help": "With use_vllm: 'server' (a `vllm serve` process on other GPUs; the "
                  "only mode toolthink's per-turn grammars support). TRL's default is "
                  "'colocate'."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Base model id or local path; empty or 'embedded': the "
                  "embedded SmolLM2-135M-Instruct."},
    )
    adapter: str | None = field(
        default=None,
        metadata={"help": "A peft adapter folder to start from (e.g. the output of "
                  "`toolthink-train sft`); its LoRA weights are trained further."},
    )
    use_lora: bool = field(
        default=True, metadata={"help": "Train a LoRA adapter (else all weights)."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (paper: 16)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(
        default=0.0,
        metadata={"help": "LoRA dropout, also replacing an --adapter's own (older SFT "
                  "adapters: 0.05): episodes are sampled without dropout."},
    )
    lora_target_modules: str = field(
        default="all-linear", metadata={"help": "peft target_modules (paper: all linear layers)."}
    )
    advantage: str = field(
        default="per_turn",
        metadata={"help": "'per_turn': returns-to-go normalised across the group at each turn "
                  "(the paper's); 'sequence': TRL's one advantage per episode."},
    )
    mask_replay: bool = field(
        default=True,
        metadata={"help": "Score sampled tokens under the replayed grammar masks (the sampler's "
                  "distribution); False: TRL's unmasked log-probs (biased, docs/rl.md)."},
    )
    gamma: float = field(default=1.0, metadata={"help": "Discount of per-turn returns-to-go."})
    task_source: str = field(
        default="embedded",
        metadata={"help": "Problems the synthetic bugs are drawn from, train split only: "
                  "'embedded' (the embedded corpus' 33 train problems) or 'mbpp' (MBPP's train "
                  "split: 366 problems of 601-974, from data_dir; the paper's RL problems are "
                  "MBPP's)."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": f"Benchmark folder for task_source 'mbpp' (the layout of "
                  f"../shared/data; default: ${DATA_DIR_ENV})."},
    )
    edits: int = field(
        default=1, metadata={"help": "Edits per synthetic bug (1: the easy one-line curriculum)."}
    )
    tasks_per_problem: int = field(
        default=2, metadata={"help": "Synthetic bugs drawn per problem."}
    )
    max_problems: int | None = field(
        default=None,
        metadata={"help": "Use only the first N train problems of task_source (None: all)."},
    )
    task_seed: int = field(default=0, metadata={"help": "Seed of the synthetic bugs."})
    max_turns: int = field(default=10, metadata={"help": "Commands per episode (paper: 10)."})
    fix_reward: float = field(default=1.0, metadata={"help": "Reward of the first fix."})
    malformed_penalty: float = field(
        default=-0.5, metadata={"help": "Reward of a malformed command."}
    )
    rejected_penalty: float = field(
        default=-0.5, metadata={"help": "Reward of a command the editor rejects."}
    )
    no_exit_penalty: float = field(default=-0.5, metadata={"help": "Added when EXIT is missing."})
    test_timeout: float = field(default=5.0, metadata={"help": "Seconds per test run."})
    max_new_tokens_per_turn: int = field(
        default=96, metadata={"help": "Tokens one command may take, EOS included."}
    )
    max_episode_tokens: int = field(
        default=3072,
        metadata={"help": "Prompt + completion tokens per episode; beyond: cut, failed."},
    )
    restrict_old_text: bool = field(
        default=False, metadata={"help": "Restrict REPW's old text to its line in the grammar."}
    )
    trajectories_per_step: int = field(
        default=4, metadata={"help": "Episodes per step written to trajectories.jsonl (0: none)."}
    )

    def __post_init__(self) -> None:
        if self.advantage not in ADVANTAGES:
            msg = f"advantage={self.advantage!r} is not one of {ADVANTAGES}: pick one"
            raise ValueError(msg)
        if self.num_generations is not None and self.num_generations < 2:
            msg = (f"num_generations={self.num_generations} leaves no group to compare: "
                   "use 2 or more (paper: 4)")
            raise ValueError(msg)
        self._check_task_source()
        if self.use_vllm:
            self._check_vllm()
        for name in ("edits", "tasks_per_problem", "max_turns", "max_new_tokens_per_turn",
                     "max_problems"):
            value = getattr(self, name)
            if value is not None and value < 1:
                msg = f"{name}={value!r} must be >= 1"
                raise ValueError(msg)
        if not self.temperature > 0:
            msg = (f"temperature={self.temperature!r}: GRPO compares sampled episodes and scores "
                   "them at this temperature (the loss divides the logits by it): pass a value "
                   "> 0 (paper and configs: 1.0)")
            raise ValueError(msg)
        # unset bf16 on a CPU run: the CPU probe decides (TRL would turn it on)
        self.bf16 = resolve_trainer_bf16(self.bf16, fp16=bool(self.fp16),
                                         use_cpu=bool(self.use_cpu))
        super().__post_init__()  # type: ignore[no-untyped-call]

    def check_paths(self) -> None:
        """Check, before the model loads, the paths a run reads and writes.

        Not part of parsing: a shipped config may name a folder a previous
        step will create (``adapter: runs/sft-gpu``).

        Raises:
            ValueError: ``adapter`` holds no readable peft ``adapter_config.json``,
                ``output_dir`` is (or lies under) a file, or
                ``resume_from_checkpoint`` names no checkpoint.
        """
        if self.adapter:
            self._check_adapter(Path(self.adapter))
        out = Path(str(self.output_dir)) if self.output_dir else None
        if out is not None:
            problem = output_dir_problem(str(out))
            if problem is not None:
                raise ValueError(problem)
        self._check_resume(out)

    def create_output_dir(self) -> Path:
        """Create ``output_dir`` (after every check, so a refused run leaves nothing behind).

        Raises:
            ValueError: it cannot be created (permissions, a read-only or
                virtual file system), named with the reason.
        """
        out = Path(str(self.output_dir))
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            msg = (f"output_dir={str(out)!r} cannot be created ({e.strerror}): pass a folder "
                   "you can write to")
            raise ValueError(msg) from None
        return out

    def _check_adapter(self, adapter: Path) -> None:
        found = adapter / "adapter_config.json"
        problem = None
        if not found.is_file():
            problem = "holds no adapter_config.json"
        else:
            try:
                fields = json.loads(found.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                problem = f"has an unreadable adapter_config.json ({e})"
            else:
                if not isinstance(fields, dict) or "peft_type" not in fields:
                    problem = "has an adapter_config.json without peft_type (not a peft adapter)"
        if problem is not None:
            msg = (f"adapter={str(adapter)!r} {problem}: pass the output folder of "
                   "`toolthink-train sft` (or another peft adapter folder), or leave adapter "
                   "out to start from the base model")
            raise ValueError(msg)

    def _check_resume(self, out: Path | None) -> None:
        resume = resume_checkpoint(self.resume_from_checkpoint)
        if resume is True:
            if (out is None or not out.is_dir()
                    or get_last_checkpoint(str(out)) is None):  # type: ignore[no-untyped-call]
                msg = (f"resume_from_checkpoint={self.resume_from_checkpoint!r}: output_dir="
                       f"{str(out)!r} holds no checkpoint-N folder yet: leave it out to start "
                       "afresh, or pass the output_dir of the run to continue")
                raise ValueError(msg)
        elif isinstance(resume, str) and not Path(resume).is_dir():
            msg = (f"resume_from_checkpoint={resume!r} is not a folder: pass a checkpoint-N "
                   "folder of an earlier run, or 'true' for the last one in output_dir")
            raise ValueError(msg)

    def _check_vllm(self) -> None:
        if self.vllm_mode != "server":
            msg = (f"vllm_mode={self.vllm_mode!r}: toolthink samples each turn with its own "
                   "grammar through a vLLM server; colocate mode is not supported: set "
                   "vllm_mode: server (docs/recipes.md, 'vLLM server mode') or use_vllm: false")
            raise ValueError(msg)
        if self.vllm_structured_outputs_regex is not None:
            msg = ("vllm_structured_outputs_regex is set: toolthink sends each turn's command "
                   "grammar itself; leave it unset")
            raise ValueError(msg)
        if self.vllm_importance_sampling_correction:
            self._check_importance_sampling()
        if not vllm_installed():
            msg = ("use_vllm=True needs vLLM in the training environment too (TRL's client "
                   "streams the weights to the server with vLLM's NCCL code): "
                   "pip install -e '.[vllm]' in the checkout, or set use_vllm: false to sample "
                   "with transformers generate")
            raise ValueError(msg)

    def _check_importance_sampling(self) -> None:
        """TRL's correction divides by the server's log q: the trainer must score the same q.

        vLLM's ``processed_logprobs`` are taken after the grammar mask, the
        temperature and top-k/top-p/min-p; the trainer's pass applies the
        temperature and, with mask replay, the mask only. Any other setting
        makes the ratio collapse towards 0 (measured: 7.4 nats per token
        without mask replay), and learning stops without an error.
        """
        problems = []
        if not self.mask_replay:
            problems.append("mask_replay=False (the trainer would score unmasked log-probs)")
        if self.top_p < 1.0:
            problems.append(f"top_p={self.top_p} (vLLM's log q is after the nucleus cut)")
        if self.top_k is not None and self.top_k > 0:
            problems.append(f"top_k={self.top_k} (vLLM's log q is after the top-k cut)")
        if self.min_p:
            problems.append(f"min_p={self.min_p} (vLLM's log q is after the min-p cut)")
        if problems:
            msg = ("use_vllm with vllm_importance_sampling_correction compares the server's "
                   "log-probs with the trainer's, which would differ under "
                   + "; ".join(problems) + ": keep mask_replay: true, top_p: 1.0, top_k: 0 "
                   "and min_p unset, or set vllm_importance_sampling_correction: false")
            raise ValueError(msg)

    def _check_task_source(self) -> None:
        if self.task_source not in TASK_SOURCES:
            msg = f"task_source={self.task_source!r} is not one of {TASK_SOURCES}: pick one"
            raise ValueError(msg)
        if self.task_source != "mbpp":
            return
        self.data_dir = self.data_dir or os.environ.get(DATA_DIR_ENV) or None
        if self.data_dir is None:
            msg = (f"task_source='mbpp' needs the benchmark folder: set data_dir (--data_dir DIR) "
                   f"or {DATA_DIR_ENV} to the folder that holds mbxp_mbpp/ (the layout of "
                   "../shared/data)")
            raise ValueError(msg)
        if not Path(self.data_dir).is_dir():
            msg = (f"data_dir={self.data_dir!r} (from data_dir or {DATA_DIR_ENV}) is not a "
                   "folder: pass the folder that holds mbxp_mbpp/ (the layout of ../shared/data)")
            raise ValueError(msg)

    def policy_dtype(self) -> torch.dtype:
        """The dtype the policy's weights are loaded in, from TRL's ``bf16`` and ``fp16``.

        bfloat16 with ``bf16``, float16 with ``fp16`` and LoRA, float32 on a
        CPU run (``use_cpu``) and otherwise (`toolthink.models.devices.training_dtype`).
        """
        return training_dtype(bf16=bool(self.bf16), fp16=bool(self.fp16),
                              use_cpu=bool(self.use_cpu), lora=self.use_lora or bool(self.adapter))

    def env_config(self) -> EnvConfig:
        """The episode and reward settings as a `toolthink.env.EnvConfig`."""
        return EnvConfig(
            max_turns=self.max_turns, fix_reward=self.fix_reward,
            malformed_penalty=self.malformed_penalty, rejected_penalty=self.rejected_penalty,
            no_exit_penalty=self.no_exit_penalty, timeout=self.test_timeout,
        )

    def rollout_config(self) -> RolloutConfig:
        """The sampling settings (GRPO's temperature, top-p, top-k) as a `RolloutConfig`."""
        return RolloutConfig(
            max_new_tokens=self.max_new_tokens_per_turn, max_total_tokens=self.max_episode_tokens,
            temperature=self.temperature, top_p=self.top_p, top_k=max(self.top_k or 0, 0),
            restrict_old_text=self.restrict_old_text,
        )
