"""Writing and reading demonstration sets: JSONL, a Hugging Face dataset, stats.

Layout of an output folder::

    demos.jsonl      one demonstration per line (schema: docs/data.md)
    dataset/         the same rows as a `datasets.DatasetDict`, one split per
                     problem split (never split by demonstration)
    stats.json       counts, rejection reasons, seconds taken, the build config

``demos.jsonl`` reads back with `read_jsonl` (`toolthink.jsonl`: a bad line is
named by file and line).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolthink.jsonl import read_jsonl, write_jsonl

__all__ = ["read_jsonl", "write_demos"]


def write_demos(
    out_dir: str | Path, records: Sequence[dict[str, Any]], stats: dict[str, Any]
) -> Path:
    """Write ``records`` as JSONL and a ``datasets.DatasetDict``, plus ``stats.json``.

    Args:
        out_dir: The folder (created if missing).
        records: Demonstration dicts from `toolthink.data.demos.build_demos`.
        stats: Counts and settings to record beside them.

    Returns:
        The folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "demos.jsonl", records, ascii_only=False)
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    if records:
        import datasets  # noqa: PLC0415 - imported only when a dataset is written

        splits: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            splits.setdefault(str(record["split"]), []).append(record)
        datasets.DatasetDict(
            {name: datasets.Dataset.from_list(rows) for name, rows in sorted(splits.items())}
        ).save_to_disk(str(out / "dataset"))
    return out
