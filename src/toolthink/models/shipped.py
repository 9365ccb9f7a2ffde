"""The adapter shipped with toolthink, so a user repairs code without training first.

Issue 16 (point 5): the study's best Chain-of-Edits LoRA adapter for the
embedded SmolLM2-135M-Instruct is committed once, in bf16 safetensors, with a
model card (``README.md``: data, steps, held-out figures with intervals), under
``toolthink/models/adapters/<name>/``. ``toolthink repair`` and ``toolthink
eval`` take ``--adapter auto`` by default: that adapter for ``--model embedded``,
nothing for any other model (an adapter fits only the base it was trained on);
``--adapter none`` asks for the model alone, and a folder for that adapter.

This module imports no ML library: the command lines resolve the flag before
they load anything.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from toolthink.models.embedded import EMBEDDED

__all__ = ["AUTO", "NONE", "SHIPPED", "adapter_help", "resolve_adapter", "shipped_adapter"]

AUTO = "auto"
"""``--adapter auto``: the shipped adapter of the model, if toolthink ships one."""

NONE = "none"
"""``--adapter none``: the model alone."""

SHIPPED = {EMBEDDED: "embedded-coe"}
"""Model spec -> the folder of its shipped adapter under ``toolthink/models/adapters/``."""


def shipped_adapter(model: str) -> Path | None:
    """The folder of the adapter shipped for ``model``, or None when there is none.

    Args:
        model: A model spec (``embedded``, a folder, a hub id).

    Returns:
        A folder holding ``adapter_config.json``, or None (no adapter is shipped
        for that model, or this installation lacks its files).
    """
    name = SHIPPED.get(model)
    if name is None:
        return None
    folder = Path(str(resources.files("toolthink.models") / "adapters" / name))
    return folder if (folder / "adapter_config.json").is_file() else None


def resolve_adapter(model: str, value: str | None) -> str | None:
    """The adapter folder an ``--adapter`` value means for ``model``, or None for none.

    Args:
        model: The ``--model`` spec.
        value: ``auto`` (or None), ``none``, or an adapter folder.

    Returns:
        ``auto``: the shipped adapter's folder for ``model`` (`shipped_adapter`),
        else None; ``none``: None; a folder: itself (checked by the caller).
    """
    if value is None or value == AUTO:
        shipped = shipped_adapter(model)
        return None if shipped is None else str(shipped)
    if value == NONE:
        return None
    return value


def adapter_help(what: str = "a peft adapter folder (SFT or RL output)") -> str:
    """The ``--adapter`` help text of the command lines that take the shipped default."""
    shipped = ", ".join(f"{model}: {name}" for model, name in SHIPPED.items())
    return (f"{what}; 'auto' (default): the adapter toolthink ships for the model "
            f"({shipped}; nothing for other models); 'none': the model alone")
