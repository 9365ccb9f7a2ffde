"""A journal of finished attempts, so an interrupted evaluation resumes where it stopped.

A held-out evaluation of the study plays hundreds of ten-turn episodes: an hour
or more on two CPU cores (issue 16). `evaluate` appends each batch's records to
the journal as soon as the batch is scored; ``toolthink eval --out DIR`` keeps it
in ``DIR/episodes.partial.jsonl`` and deletes it once ``results.json`` is written.
Rerun the same command after an interruption and the attempts already in the
journal are read back instead of played again.

The file's first line is a header with the settings that decide what an attempt
plays (model, adapter, tasks, turns, tokens, temperature, seed...); a journal
written under other settings is refused (`JournalMismatchError`) rather than
mixed in. Each further line is one attempt: its mode, its record (the
``episodes.jsonl`` record) and the seconds its batch took, shared out evenly,
so a resumed mode's ``seconds`` still sum its batches. A last line cut short by
the interruption is dropped (its attempt is played again).

Resumed batches are made of the attempts still to play, so a task may share its
batch with other tasks than in an uninterrupted run; greedy episodes are the
same up to the arithmetic of batched bf16 (the KV-cache sampler runs each row
on its own positions).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolthink.errors import ToolthinkError
from toolthink.jsonl import jsonl_text, write_jsonl

__all__ = ["JOURNAL_FILE", "EvalJournal", "JournalMismatchError", "read_journal"]

JOURNAL_FILE = "episodes.partial.jsonl"
"""The journal's name in ``toolthink eval --out`` while the evaluation runs."""

logger = logging.getLogger(__name__)

_HEADER = "toolthink_eval_journal"


class JournalMismatchError(ToolthinkError, ValueError):
    """The journal in the output folder was written by an evaluation with other settings."""


def _rows(path: Path) -> list[dict[str, Any]]:
    """The header and the attempts' lines of a journal (a last line cut short dropped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # cut short by the interruption: play it again
                logger.warning("%s: dropped its last line, cut short", path)
                break
            msg = (f"{path}:{number} is not JSON: the journal is damaged; delete it "
                   "to evaluate from the start")
            raise JournalMismatchError(msg) from None
    if not rows or rows[0].get(_HEADER) != 1:
        msg = (f"{path} is not an evaluation journal (no header line): delete it or "
               "choose another --out")
        raise JournalMismatchError(msg)
    return rows


def read_journal(path: str | Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The settings of a journal and its records by mode, in the order they were played.

    For a report of an evaluation still under way (``toolthink study --report-only``).

    Raises:
        JournalMismatchError: The file is not a journal, or is damaged.
    """
    rows = _rows(Path(path))
    records: dict[str, list[dict[str, Any]]] = {}
    for row in rows[1:]:
        records.setdefault(row["mode"], []).append(row["record"])
    return dict(rows[0].get("key", {})), records


class EvalJournal:
    """Attempts finished so far, on disk (one JSON object a line).

    Attributes:
        path: The journal file.
        key: The settings the journal belongs to (JSON-ready).
    """

    def __init__(self, path: str | Path, key: dict[str, Any]) -> None:
        """Open (or start) the journal at ``path`` for the settings ``key``.

        Raises:
            JournalMismatchError: ``path`` holds a journal of other settings;
                the message names the first setting that differs and the fix.
        """
        self.path = Path(path)
        self.key = json.loads(json.dumps(key))  # the form it takes once read back
        self._done: dict[str, dict[tuple[str, int], tuple[dict[str, Any], float]]] = {}
        if self.path.exists():
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append([{_HEADER: 1, "key": self.key}])

    def _read(self) -> None:
        rows = _rows(self.path)
        theirs = rows[0].get("key", {})
        for name in sorted(set(theirs) | set(self.key)):
            if theirs.get(name) != self.key.get(name):
                msg = (f"{self.path} was written by an evaluation with {name}="
                       f"{theirs.get(name)!r}, this one has {name}={self.key.get(name)!r}: "
                       "rerun with the same settings to resume, or delete the journal (or "
                       "choose another --out) to start again")
                raise JournalMismatchError(msg)
        for row in rows[1:]:
            record = row["record"]
            self._done.setdefault(row["mode"], {})[record["task_id"], int(record["sample"])] = (
                record, float(row["seconds"]))
        # A clean file again: the good lines only, so appends never follow a cut line.
        write_jsonl(self.path, rows)

    def _append(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(jsonl_text(rows))
            file.flush()
            os.fsync(file.fileno())

    def done(self, mode: str) -> dict[tuple[str, int], dict[str, Any]]:
        """The records of ``mode`` already played, by (task id, sample)."""
        return {attempt: record for attempt, (record, _) in self._done.get(mode, {}).items()}

    def seconds(self, mode: str) -> float:
        """Seconds the journal's attempts of ``mode`` took, in all earlier runs."""
        return sum(seconds for _, seconds in self._done.get(mode, {}).values())

    def add(self, mode: str, records: Sequence[dict[str, Any]], seconds: float) -> None:
        """Append one scored batch of ``mode`` (its records and wall seconds)."""
        share = seconds / max(len(records), 1)
        self._append([{"mode": mode, "seconds": share, "record": r} for r in records])
        for r in records:
            self._done.setdefault(mode, {})[r["task_id"], int(r["sample"])] = (r, share)

    def remove(self) -> None:
        """Delete the file (the evaluation is written in full)."""
        self.path.unlink(missing_ok=True)
