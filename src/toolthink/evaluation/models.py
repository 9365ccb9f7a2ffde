"""Loading the model to evaluate: the embedded model, a folder or hub id, an adapter.

An adapter folder may record the prompt version its training data was rendered
with (a ``prompt_version`` key anywhere in its ``toolthink_*.json`` files);
evaluating it under another prompt measures the prompt, not the model, so that
is refused (`toolthink.env.check_prompt_version`). Folders that record none are
accepted with a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from toolthink.env import PromptVersionError, check_prompt_version
from toolthink.errors import ToolthinkError

__all__ = ["EMBEDDED", "ModelLoadError", "PromptVersionError", "check_prompt_version",
           "load_model"]

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
"""``--model`` value for the embedded SmolLM2-135M-Instruct."""


class ModelLoadError(ToolthinkError, ValueError):
    """The model or adapter named cannot be loaded."""


def load_model(
    model: str, adapter: str | None = None, *, device: str = "auto", dtype: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer for inference, in eval mode on ``device``.

    Args:
        model: ``"embedded"``, a local folder or a hub id (offline caches apply).
        adapter: A peft adapter folder applied on top, or None. Its tokenizer is
            used when it saved one.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``
            (`toolthink.training.devices.resolve_device`).
        dtype: ``auto`` (bfloat16 on a GPU that supports it, else float32),
            ``float32``, ``bfloat16`` or ``float16``. A LoRA adapter's own
            weights stay float32 (peft's default).

    Raises:
        ModelLoadError: The model or adapter cannot be loaded.
        PromptVersionError: The adapter records another prompt version.
        DeviceError: The device or dtype is unknown or not on this machine.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    from toolthink.training.devices import resolve_device, resolve_dtype  # noqa: PLC0415

    target = resolve_device(device)
    weights = resolve_dtype(dtype, target)
    if adapter is not None:
        if not Path(adapter).is_dir():
            msg = f"--adapter {adapter!r} is not a folder: pass the output folder of SFT or RL"
            raise ModelLoadError(msg)
        check_prompt_version(adapter)
    elif Path(model).is_dir():
        check_prompt_version(model)
    try:
        if model == EMBEDDED:
            from toolthink.training.embedded_model import (  # noqa: PLC0415
                load_embedded_model,
                load_embedded_tokenizer,
            )

            lm, tokenizer = load_embedded_model(dtype=weights), load_embedded_tokenizer()
        else:
            lm = AutoModelForCausalLM.from_pretrained(model, dtype=weights)
            tokenizer = AutoTokenizer.from_pretrained(model)
    except OSError as e:
        msg = (f"cannot load --model {model!r} ({e}): pass 'embedded', a model folder, or a "
               "hub id already in the local cache")
        raise ModelLoadError(msg) from e
    if adapter is not None:
        from peft import PeftModel  # noqa: PLC0415

        peft_model: Any = PeftModel.from_pretrained(lm, adapter)
        lm = peft_model
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(adapter)
    placed: Any = lm  # transformers types .to() through a wrapper mypy misreads
    placed.to(target)  # in place; the adapter too: moved after peft has attached it
    lm.train(False)
    logger.info("model %s on %s in %s", model, target, weights)
    return lm, tokenizer
