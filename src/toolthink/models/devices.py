"""Where a model runs and in which dtype: ``--device`` and ``--dtype`` specs, RL's policy dtype.

Inference (``toolthink eval``, ``toolthink repair``) takes a device spec
(``auto``, ``cpu``, ``cuda``, ``cuda:N``) and a dtype spec (``auto``,
``float32``, ``bfloat16``, ``float16``). ``auto`` picks CUDA when torch sees a
GPU, and there bfloat16 when the GPU supports it (``torch.cuda.is_bf16_supported``),
else float32, the dtype the weights of a CPU run keep.

Training (``toolthink-train rl``) follows TRL's mixed-precision flags: the
policy is loaded in bfloat16 with ``bf16``, in float16 with ``fp16`` (LoRA
only: the AMP gradient scaler refuses float16 trainable weights), float32 on a
CPU run. TRL's own scripts load the model in the dtype of its config (``dtype:
auto``) for the same reason: half the memory of float32 weights.
"""

from __future__ import annotations

import logging
import re

import torch

from toolthink.errors import ToolthinkError

__all__ = [
    "DTYPES",
    "DeviceError",
    "check_device_spec",
    "cpu_precision_problem",
    "resolve_device",
    "resolve_dtype",
    "training_dtype",
    "with_cpu_fix",
]

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""``--dtype`` values other than ``auto``, by name."""

_DEVICE = re.compile(r"auto|cpu|cuda(?::\d+)?")


class DeviceError(ToolthinkError, ValueError):
    """A device or dtype was asked for that this machine or this torch cannot give."""


def check_device_spec(spec: str) -> str:
    """``spec`` itself when it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Checks the spelling only; `resolve_device` checks the machine.

    Raises:
        DeviceError: Another value.
    """
    if _DEVICE.fullmatch(spec) is None:
        msg = f"--device {spec!r} is not a device: pass auto, cpu, cuda or cuda:N (e.g. cuda:0)"
        raise DeviceError(msg)
    return spec


def resolve_device(spec: str = "auto") -> torch.device:
    """The device a ``--device`` spec names, checked against this machine.

    Args:
        spec: ``auto`` (CUDA when torch sees a GPU, else CPU), ``cpu``,
            ``cuda`` (the current GPU) or ``cuda:N``.

    Raises:
        DeviceError: A malformed spec; CUDA asked for but torch sees no GPU
            (a CPU build of torch, or ``CUDA_VISIBLE_DEVICES`` empty); ``cuda:N``
            past the GPUs torch sees.
    """
    check_device_spec(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        msg = (f"--device {spec} asked for a GPU but torch {torch.__version__} sees none (a CPU "
               "build of torch, no driver, or CUDA_VISIBLE_DEVICES empty): install a CUDA build "
               "of torch, or pass --device cpu")
        raise DeviceError(msg)
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        msg = (f"--device {spec}: torch sees {count} GPU(s), numbered 0 to {count - 1}: pass "
               "one of those (CUDA_VISIBLE_DEVICES renumbers them)")
        raise DeviceError(msg)
    return device


def resolve_dtype(spec: str, device: torch.device) -> torch.dtype:
    """The weights' dtype a ``--dtype`` spec names on ``device``.

    Args:
        spec: ``auto``, ``float32``, ``bfloat16`` or ``float16``. ``auto`` is
            bfloat16 on a GPU that supports it, else float32.
        device: Where the model will run (from `resolve_device`).

    Raises:
        DeviceError: An unknown spec, or bfloat16 on a GPU without it.
    """
    on_gpu = device.type == "cuda"
    if spec == "auto":
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    if spec not in DTYPES:
        msg = f"--dtype {spec!r} is not a dtype: pass auto, {', '.join(DTYPES)}"
        raise DeviceError(msg)
    if spec == "bfloat16" and on_gpu and not torch.cuda.is_bf16_supported():
        msg = (f"--dtype bfloat16: the GPU {device} does not support bfloat16: pass --dtype "
               "float16 (half the memory) or float32")
        raise DeviceError(msg)
    if spec != "float32" and not on_gpu:
        logger.warning("--dtype %s on the CPU: supported but usually slower than float32", spec)
    return DTYPES[spec]


def training_dtype(*, bf16: bool, fp16: bool, use_cpu: bool, lora: bool) -> torch.dtype:
    """The dtype to load an RL policy in, from TRL's mixed-precision flags.

    Args:
        bf16: ``GRPOConfig.bf16``.
        fp16: ``GRPOConfig.fp16``.
        use_cpu: ``GRPOConfig.use_cpu``: float32 whatever the flags say.
        lora: The trained weights are a LoRA adapter (peft keeps those in
            float32 over half-precision base weights).

    Returns:
        bfloat16 with ``bf16``; float16 with ``fp16`` and LoRA; else float32.
        Full fine-tuning with ``fp16`` stays float32: the AMP gradient scaler
        refuses float16 trainable weights ("Attempting to unscale FP16 gradients").
    """
    if use_cpu:
        return torch.float32
    if bf16:
        return torch.bfloat16
    if fp16:
        if lora:
            return torch.float16
        logger.info("fp16 with full fine-tuning: the policy stays float32 (AMP needs float32 "
                    "weights to scale their gradients)")
    return torch.float32


def cpu_precision_problem(
    *, bf16: bool, fp16: bool, use_cpu: bool, cpu_config: str
) -> str | None:
    """Why a training run's mixed precision cannot run here, or None when it can.

    TRL turns ``bf16`` on by default; on a CPU run (``use_cpu``, or no GPU)
    half precision is slow or fails, so both commands refuse it up front.

    Args:
        bf16: The trainer's ``bf16``.
        fp16: The trainer's ``fp16``.
        use_cpu: The trainer's ``use_cpu``.
        cpu_config: The config file that sets both off, e.g. ``configs/sft_cpu.yaml``.
    """
    on_cpu = use_cpu or not (torch.cuda.is_available() or torch.backends.mps.is_available())
    if on_cpu and (bf16 or fp16):
        return (f"bf16={bf16}, fp16={fp16} on a CPU run: pass --bf16 false --fp16 false "
                f"({cpu_config} does)")
    return None


def with_cpu_fix(error: Exception, cpu_config: str) -> str:
    """``error``'s text, plus the fix when transformers refused bf16 on this machine.

    transformers' ``TrainingArguments`` raises while parsing ("Your setup doesn't
    support bf16/gpu") when bf16 is on and no GPU is there.

    Args:
        error: The parser's error.
        cpu_config: The config file for a CPU run, e.g. ``configs/rl_cpu.yaml``.
    """
    text = str(error)
    if "bf16" in text:
        text += (f"\nOn a machine without a GPU, start from --config {cpu_config} or pass "
                 "--bf16 false --use_cpu true")
    return text
