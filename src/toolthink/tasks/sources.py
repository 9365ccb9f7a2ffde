"""Reading benchmark files from the folder the user names, with errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
        DatasetFormatError: A line is not a JSON object or lacks a field.
    """
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                msg = f"{dataset}: {path}:{number} is not JSON ({exc})"
                raise DatasetFormatError(msg) from exc
            missing = [n for n in required if n not in row] if isinstance(row, dict) else []
            if not isinstance(row, dict) or missing:
                msg = f"{dataset}: {path}:{number} lacks the fields {missing or required}"
                raise DatasetFormatError(msg)
            rows.append(row)
    return rows
