"""Direct-answer demonstrations: the same bugs as the Chain-of-Edits ones, answered at once.

The paper's direct baseline is trained on the same problems as Chain-of-Edits
(Rainone et al., arXiv 2507.05065, section 5). `direct_demo` turns a verified
Chain-of-Edits demonstration (`toolthink.data.demos`) into one whose single
"command" is the whole fixed program (`toolthink.env.direct.direct_target`),
asked with the direct prompt (`toolthink.env.direct.direct_message`): the same
problem, the same corruption, the same tests. The record keeps the schema of
docs/data.md, so ``toolthink-train sft`` trains on it unchanged, with the loss
on the answer's tokens only; ``training_format`` and ``prompt_version`` say
which format it is, and the trained folder records them
(`toolthink.env.check_prompt_version`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toolthink.env import TrainingFormat
from toolthink.env.direct import (
    DIRECT_PROMPT_VERSION,
    DIRECT_SYSTEM_PROMPT,
    direct_message,
    direct_target,
)

__all__ = ["FORMAT_KEY", "direct_demo", "direct_demos", "format_of"]

FORMAT_KEY = "training_format"
"""The record field naming a demonstration's `toolthink.env.TrainingFormat`."""


def format_of(record: dict[str, Any]) -> TrainingFormat:
    """A demonstration's format (records without the field are Chain-of-Edits).

    Raises:
        ValueError: The field names no `toolthink.env.TrainingFormat`.
    """
    value = record.get(FORMAT_KEY, TrainingFormat.CHAIN_OF_EDITS.value)
    try:
        return TrainingFormat(value)
    except ValueError:
        msg = (f"demonstration {record.get('id')!r} has {FORMAT_KEY}={value!r}: use one of "
               f"{[f.value for f in TrainingFormat]}")
        raise ValueError(msg) from None


def direct_demo(record: dict[str, Any]) -> dict[str, Any]:
    """The direct-answer twin of a Chain-of-Edits demonstration.

    Args:
        record: A record of `toolthink.data.demos.build_demos` (verified: its
            ``corrupted`` program fails the tests and ``original`` passes them).

    Returns:
        A record with the same id, problem, corruption, tests and provenance;
        ``system`` and ``prompt`` are the direct prompt, ``commands`` is the one
        answer (``original`` in a fenced block), ``observations`` and
        ``rewards`` are empty, ``training_format`` is ``"direct"``; a detour
        (`toolthink.data.detours`) is a trace's and is dropped.

    Raises:
        ValueError: ``record`` is already a direct demonstration.
    """
    if format_of(record) is not TrainingFormat.CHAIN_OF_EDITS:
        msg = f"demonstration {record.get('id')!r} is already {format_of(record).value}"
        raise ValueError(msg)
    twin = dict(record)
    twin.update({
        FORMAT_KEY: TrainingFormat.DIRECT.value,
        "prompt_version": DIRECT_PROMPT_VERSION,
        "system": DIRECT_SYSTEM_PROMPT,
        "prompt": direct_message(record["problem"], record["tests"], record["corrupted"]),
        "commands": [direct_target(record["original"])],
        "observations": [],
        "rewards": [],
    })
    for key in ("order", "untrained", "detour"):  # a trace's order and detour: no trace here
        twin.pop(key, None)
    return twin


def direct_demos(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`direct_demo` of each record, in order."""
    return [direct_demo(r) for r in records]
