"""Where a model runs and in which dtype: ``--device`` and ``--dtype`` specs, training precision.

Inference (``toolthink eval``, ``toolthink repair``) takes a device spec
(``auto``, ``cpu``, ``cuda``, ``cuda:N``) and a dtype spec (``auto``,
``float32``, ``bfloat16``, ``float16``). ``auto`` picks CUDA when torch sees a
GPU, and there bfloat16 when the GPU supports it (``torch.cuda.is_bf16_supported``);
on a CPU, bfloat16 when the CPU computes it natively (`cpu_has_native_bf16`),
else float32.

The CPU probe reads the ``flags`` of ``/proc/cpuinfo``: ``avx512_bf16``
(AVX512-BF16 dot products, e.g. AMD Zen 4, Intel Cooper Lake) or ``amx_bf16``
(Intel AMX tiles, Sapphire Rapids). With either, oneDNN runs bfloat16 matmuls
natively: measured here (AMD EPYC, ``avx512_bf16``, torch 2.13) a 1024x576 @
576x1536 matmul ran 128 GFLOP/s in float32 and 359 in bfloat16. Without them
PyTorch emulates bfloat16 and it is slower than float32 (PyTorch issues #86270,
#118499). ``TOOLTHINK_CPU_BF16=1`` (or ``0``) overrides the probe.

Training follows TRL's mixed-precision flags. On a GPU the policy is loaded in
bfloat16 with ``bf16``, in float16 with ``fp16`` (LoRA only: the AMP gradient
scaler refuses float16 trainable weights). On a CPU run (``use_cpu``) the
weights stay float32 and ``bf16`` makes transformers autocast the forward and
backward passes to bfloat16 (``torch.autocast("cpu")``): float32 master
weights, bfloat16 matmuls. Left unset, ``bf16`` is chosen by the probe on a
CPU run (`resolve_trainer_bf16`), TRL's default (on) elsewhere.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from toolthink.errors import ToolthinkError

__all__ = [
    "CPU_BF16_ENV",
    "DTYPES",
    "NATIVE_BF16_FLAGS",
    "DeviceError",
    "check_device_spec",
    "cpu_fp16_problem",
    "cpu_has_native_bf16",
    "resolve_device",
    "resolve_dtype",
    "resolve_trainer_bf16",
    "training_dtype",
    "with_cpu_fix",
]

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""``--dtype`` values other than ``auto``, by name."""

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of native bfloat16 arithmetic on x86 (AVX512-BF16, AMX)."""

CPU_BF16_ENV = "TOOLTHINK_CPU_BF16"
"""Environment variable overriding the probe: ``1`` (bfloat16 is fast here) or ``0``."""

CPUINFO = Path("/proc/cpuinfo")

_DEVICE = re.compile(r"auto|cpu|cuda(?::\d+)?")
_SLOW = ("the CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag in /proc/cpuinfo): "
         "bfloat16 will be slower than float32 here; pass {fix} for speed")


class DeviceError(ToolthinkError, ValueError):
    """A device or dtype was asked for that this machine or this torch cannot give."""


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bfloat16 natively, so bfloat16 beats float32 on it.

    Args:
        cpuinfo: The text of ``/proc/cpuinfo`` (default: read it; a machine
            without one, e.g. macOS, counts as no).

    Returns:
        ``$TOOLTHINK_CPU_BF16`` when set (``1``/``true`` or ``0``/``false``),
        else whether a ``flags`` line lists one of `NATIVE_BF16_FLAGS`.

    Raises:
        DeviceError: ``$TOOLTHINK_CPU_BF16`` holds another value.
    """
    override = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    if override in {"1", "true", "yes"}:
        return True
    if override in {"0", "false", "no"}:
        return False
    if override:
        msg = (f"{CPU_BF16_ENV}={os.environ[CPU_BF16_ENV]!r} is not a switch: set it to 1 "
               "(use bfloat16 on this CPU) or 0 (float32), or unset it to probe /proc/cpuinfo")
        raise DeviceError(msg)
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and set(value.split()) & set(NATIVE_BF16_FLAGS):
            return True
    return False


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
            bfloat16 on a GPU that supports it and on a CPU with native
            bfloat16 (`cpu_has_native_bf16`), else float32.
        device: Where the model will run (from `resolve_device`).

    Raises:
        DeviceError: An unknown spec, or bfloat16 on a GPU without it.
    """
    on_gpu = device.type == "cuda"
    if spec == "auto":
        fast = torch.cuda.is_bf16_supported() if on_gpu else cpu_has_native_bf16()
        return torch.bfloat16 if fast else torch.float32
    if spec not in DTYPES:
        msg = f"--dtype {spec!r} is not a dtype: pass auto, {', '.join(DTYPES)}"
        raise DeviceError(msg)
    if spec == "bfloat16" and on_gpu and not torch.cuda.is_bf16_supported():
        msg = (f"--dtype bfloat16: the GPU {device} does not support bfloat16: pass --dtype "
               "float16 (half the memory) or float32")
        raise DeviceError(msg)
    if spec == "float16" and not on_gpu:
        logger.warning("--dtype float16 on the CPU: supported but usually slower than float32")
    if spec == "bfloat16" and not on_gpu and not cpu_has_native_bf16():
        logger.warning("--dtype bfloat16: " + _SLOW.format(fix="--dtype float32"))
    return DTYPES[spec]


def training_dtype(*, bf16: bool, fp16: bool, use_cpu: bool, lora: bool) -> torch.dtype:
    """The dtype to load an RL policy in, from TRL's mixed-precision flags.

    Args:
        bf16: ``GRPOConfig.bf16``.
        fp16: ``GRPOConfig.fp16``.
        use_cpu: ``GRPOConfig.use_cpu``: float32 whatever the flags say (``bf16``
            there autocasts the passes and keeps float32 master weights).
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


def resolve_trainer_bf16(bf16: bool | None, *, fp16: bool, use_cpu: bool) -> bool | None:
    """The trainer's ``bf16``, chosen by the CPU probe when left unset on a CPU run.

    Called by the training configs before TRL's ``__post_init__``, which turns
    an unset ``bf16`` on (unless ``fp16``). On a CPU run (``use_cpu``) with
    ``bf16`` unset: `cpu_has_native_bf16`. ``bf16`` forced on a CPU without
    native bfloat16 works, after a one-line warning that it will be slow.

    Args:
        bf16: The ``bf16`` the user gave, None when unset.
        fp16: The trainer's ``fp16``.
        use_cpu: The trainer's ``use_cpu``.

    Returns:
        The value to use; None (TRL's default) off a CPU run.
    """
    if not use_cpu:
        return bf16
    if bf16 is None:
        return not fp16 and cpu_has_native_bf16()
    if bf16 and not cpu_has_native_bf16():
        logger.warning("bf16=True on a CPU run: " + _SLOW.format(fix="--bf16 false"))
    return bf16


def cpu_fp16_problem(*, fp16: bool, use_cpu: bool, cpu_config: str) -> str | None:
    """Why a training run's ``fp16`` cannot run here, or None when it can.

    float16 mixed precision needs a GPU (its gradient scaler); a CPU run
    (``use_cpu``, or no GPU) may use ``bf16`` instead.

    Args:
        fp16: The trainer's ``fp16``.
        use_cpu: The trainer's ``use_cpu``.
        cpu_config: The config file of a CPU run, e.g. ``configs/sft_cpu.yaml``.
    """
    on_cpu = use_cpu or not (torch.cuda.is_available() or torch.backends.mps.is_available())
    if on_cpu and fp16:
        return (f"fp16=True on a CPU run: float16 mixed precision needs a GPU; pass --fp16 false "
                f"(bf16 autocasts on a CPU; {cpu_config} leaves it to the CPU probe)")
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
