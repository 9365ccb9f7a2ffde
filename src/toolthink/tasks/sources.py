"""Reading benchmark files from the folder the user names, with errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolthink import jsonl
from toolthink.errors import ToolthinkError

__all__ = ["DatasetFormatError", "DatasetNotFoundError", "dataset_file", "read_jsonl"]


class DatasetNotFoundError(ToolthinkError, FileNotFoundError):
    """A benchmark file is missing from the data folder given."""


class DatasetFormatError(ToolthinkError, ValueError):
    """A benchmark file does not have the format its loader expects."""


def dataset_file(data_dir: str | Path, relative: str, dataset: str) -> Path:
    """Return ``data_dir / relative``, or raise naming the folder layout expected.

    Raises:
        DatasetNotFoundError: The file does not exist.
    """
    path = Path(data_dir) / relative
    if not path.is_file():
        msg = (
            f"{dataset} file not found: {path}. Pass the data folder that holds "
            f"{relative} (the layout of ../shared/data, described in its README.md)"
        )
        raise DatasetNotFoundError(msg)
    return path


def read_jsonl(path: Path, dataset: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Read one JSON object per line, checking that each has the ``required`` fields.

    Raises:
        DatasetFormatError: A line is not UTF-8, not a JSON object or lacks a
            field (the message names ``dataset``, the file and the line).
    """
    try:
        return jsonl.read_jsonl(path, required)
    except jsonl.JsonlError as e:
        msg = f"{dataset}: {e}"
        raise DatasetFormatError(msg) from e
