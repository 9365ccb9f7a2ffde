"""Reading and writing JSONL files (one JSON object a line); read errors name the file and line.

One reader for every JSONL file toolthink reads: demonstrations
(`toolthink.data.store`, `toolthink.training.sft_data`) and benchmark files
(`toolthink.tasks.sources`); one writer (`write_jsonl`, `jsonl_text`) for every
file it writes: episodes, journals, held-out sets, demonstrations, training
logs. It sits beside `toolthink.errors`, outside the layers, because the lowest
of its users (``tasks``) may import nothing above it. Each caller re-raises
`JsonlError` as its own error with the fix that fits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toolthink.errors import ToolthinkError

__all__ = ["JsonlError", "jsonl_text", "read_jsonl", "read_numbered_jsonl", "write_jsonl"]


def jsonl_text(rows: Iterable[Mapping[str, Any]], *, ascii_only: bool = True) -> str:
    """``rows`` as JSONL text: one JSON object a line, each line ending with ``\\n``.

    Args:
        rows: JSON-ready objects.
        ascii_only: Escape non-ASCII characters (``\\u00e9``). Keep it for
            text a model wrote, which may hold lone surrogates that UTF-8
            cannot encode; False writes readable UTF-8 (data files).
    """
    return "".join(json.dumps(row, ensure_ascii=ascii_only) + "\n" for row in rows)


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]], *, append: bool = False,
                ascii_only: bool = True) -> Path:
    """Write (or append) ``rows`` to ``path`` as UTF-8 JSONL; the parent folder is created.

    Args:
        path: The file.
        rows: JSON-ready objects.
        append: Add to the file instead of replacing it.
        ascii_only: As in `jsonl_text`.

    Returns:
        The path.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a" if append else "w", encoding="utf-8") as f:
        f.write(jsonl_text(rows, ascii_only=ascii_only))
    return file


class JsonlError(ToolthinkError, ValueError):
    """A line of a JSONL file is not a JSON object with the fields asked for.

    Attributes:
        path: The file.
        line: The 1-based line number.
    """

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line} {problem}")
        self.path = path
        self.line = line


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The JSON objects of ``path``, one a line; blank lines are skipped.

    Args:
        path: The file.
        required: Fields every object must have.

    Returns:
        The objects, in file order.

    Raises:
        JsonlError: A line that is not UTF-8, not JSON (or nested too deeply
            to read), not a JSON object, or lacks a ``required`` field; the
            message starts ``FILE:LINE``.
        OSError: The file cannot be opened (callers check that it exists).
    """
    return [row for _, row in read_numbered_jsonl(path, required)]


def read_numbered_jsonl(
    path: str | Path, required: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, Any]]]:
    """Like `read_jsonl`, each object with its 1-based line number.

    For callers that check the fields further and name the line in their errors
    (`toolthink.tasks.own`).

    Raises:
        JsonlError: As `read_jsonl`.
        OSError: The file cannot be opened.
    """
    file = Path(path)
    rows: list[tuple[int, dict[str, Any]]] = []
    with file.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise JsonlError(file, number, f"is not UTF-8 text ({e})") from e
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except RecursionError as e:  # json's C scanner recurses once per nesting level
                raise JsonlError(file, number, "nests JSON deeper than Python's json module "
                                 "reads (about 1000 levels)") from e
            except ValueError as e:  # JSONDecodeError, or an integer of over 4300 digits
                raise JsonlError(file, number, f"is not JSON ({e})") from e
            if not isinstance(row, dict):
                raise JsonlError(file, number,
                                 f"is a JSON {type(row).__name__}, not a JSON object")
            missing = [name for name in required if name not in row]
            if missing:
                raise JsonlError(file, number, f"lacks the fields {missing}")
            rows.append((number, row))
    return rows
