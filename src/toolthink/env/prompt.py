"""The prompt template, versioned, in one place.

SFT demonstrations, RL rollouts and evaluation render the system message and
the first user message with these functions only, so a model sees the same
text in training and at inference. Change the text only together with
`PROMPT_VERSION`: demonstrations record the version they were built with, and
evaluation refuses a mismatch (a model trained on one prompt and tested on
another measures the prompt, not the model).

A trained folder may record the version its data was rendered with (a
``prompt_version`` key anywhere in its ``toolthink_*.json`` files) and the
format it was trained on (``training_format``: `TrainingFormat`, Chain-of-Edits
or the direct answers of `toolthink.env.direct`; a folder that records none is
Chain-of-Edits, as every folder before the direct baseline).
`check_prompt_version` refuses a folder trained on another format than the one
it is used in (`FormatMismatchError`), then compares its prompt version with
that format's (`PROMPT_VERSIONS`), for evaluation and for RL that starts from
an SFT adapter.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from toolthink.env.direct import DIRECT_PROMPT_VERSION
from toolthink.errors import ToolthinkError

__all__ = [
    "EVALUATION_FIX",
    "PROMPT_VERSION",
    "PROMPT_VERSIONS",
    "SYSTEM_PROMPT",
    "FormatMismatchError",
    "PromptVersionError",
    "TrainingFormat",
    "check_prompt_version",
    "recorded_format",
    "task_message",
]

logger = logging.getLogger(__name__)

PROMPT_VERSION = "toolthink-prompt-1"
"""Identifies the text below; bump it with every change to the text."""

SYSTEM_PROMPT = """\
You repair Python code by editing it with commands, one command per turn.
Commands (n is a line number):
ADDL n >>>text  insert text as a new line n
REPL n >>>text  replace line n by text
REPW n >>>old >>>new  in line n, replace the first old by new
DELL n  delete line n
EXIT  stop: the code is repaired
Text is kept exactly, indentation included. After each command you see the \
code as "n|line", then ***, then the test results. Send EXIT once the tests pass."""
"""The system message: the command language in brief (see docs/language.md)."""


def task_message(problem: str, tests: str, state: str, *, max_test_chars: int = 2_000) -> str:
    """Render the first user message: the problem, the tests, the initial state.

    Args:
        problem: The problem statement in prose (may be empty).
        tests: The test source the model may see; cut to ``max_test_chars``
            characters with a note when longer (0 hides the tests).
        state: The rendered initial state (`toolthink.tool.render`).
        max_test_chars: The longest test text shown, in characters.

    Returns:
        The message text.
    """
    parts = []
    if problem.strip():
        parts.append(f"Problem:\n{problem.strip()}")
    shown = tests.strip()
    if max_test_chars > 0 and shown:
        if len(shown) > max_test_chars:
            more = len(shown) - max_test_chars
            shown = shown[:max_test_chars] + f"\n# ... ({more} more characters)"
        parts.append(f"Tests:\n{shown}")
    parts.append(f"Code:\n{state}")
    return "\n\n".join(parts)


class TrainingFormat(enum.StrEnum):
    """What a model is trained to answer: editor commands, or the whole program at once."""

    CHAIN_OF_EDITS = "chain-of-edits"
    DIRECT = "direct"


PROMPT_VERSIONS = {TrainingFormat.CHAIN_OF_EDITS: PROMPT_VERSION,
                   TrainingFormat.DIRECT: DIRECT_PROMPT_VERSION}
"""The prompt version this toolthink renders for each format."""


class PromptVersionError(ToolthinkError, ValueError):
    """A folder was trained on another prompt version than this toolthink renders."""


class FormatMismatchError(PromptVersionError):
    """A folder trained on one format (Chain-of-Edits, direct) is used in the other."""


EVALUATION_FIX = "evaluate it with the toolthink version it was trained with, or retrain it"
"""`check_prompt_version`'s default fix: the one for ``toolthink eval``."""


def _values(value: Any, name: str) -> Iterator[str]:
    """Every string under key ``name`` anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == name and isinstance(item, str):
                yield item
            else:
                yield from _values(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _values(item, name)


def _recorded(folder: str | Path, name: str) -> set[str]:
    found: set[str] = set()
    for path in sorted(Path(folder).glob("toolthink*.json")):
        try:
            found.update(_values(json.loads(path.read_text(encoding="utf-8")), name))
        except (OSError, ValueError):
            logger.warning("could not read %s; %s not checked there", path, name)
    return found


def recorded_format(folder: str | Path) -> TrainingFormat:
    """The format ``folder`` was trained on (``training_format`` in its ``toolthink_*.json``).

    A folder that records no format, or records the direct prompt version
    without one, is taken at its prompt version: direct for
    `DIRECT_PROMPT_VERSION`, else Chain-of-Edits (every folder trained before
    the direct baseline existed).

    Raises:
        PromptVersionError: It records an unknown format, or two of them.
    """
    formats = _recorded(folder, "training_format")
    if not formats:
        direct = DIRECT_PROMPT_VERSION in _recorded(folder, "prompt_version")
        return TrainingFormat.DIRECT if direct else TrainingFormat.CHAIN_OF_EDITS
    known = [f.value for f in TrainingFormat]
    if len(formats) > 1 or not formats <= set(known):
        msg = (f"{folder} records training formats {sorted(formats)}: one of {known} is "
               "expected; retrain it, or fix training_format in its toolthink_*.json")
        raise PromptVersionError(msg)
    return TrainingFormat(formats.pop())


def check_prompt_version(
    folder: str | Path, *, fix: str = EVALUATION_FIX,
    formats: Collection[str] = (TrainingFormat.CHAIN_OF_EDITS,),
) -> str | None:
    """The prompt version ``folder`` records, checked against its format's and the use.

    Args:
        folder: A trained folder (SFT or RL output) with ``toolthink_*.json`` files.
        fix: What a version error tells the user to do (default: `EVALUATION_FIX`).
        formats: The `TrainingFormat` values the folder is about to be used in
            (``toolthink eval --mode both``: both); each must be the one it was
            trained on.

    Returns:
        The recorded version, or None when the folder records none (a folder
        that records neither a version nor a format is not checked).

    Raises:
        FormatMismatchError: ``formats`` holds another format than the one the
            folder was trained on; the message names the folder, its format and the fix.
        PromptVersionError: A recorded version differs from the format's
            `PROMPT_VERSIONS` entry; the message names ``folder``, both
            versions and ``fix``.
    """
    found = _recorded(folder, "prompt_version")
    if not found and not _recorded(folder, "training_format"):
        logger.info("%s records no prompt version: not checked", folder)
        return None
    trained = recorded_format(folder)
    others = sorted({str(f) for f in formats} - {trained.value})
    if others:
        wanted = " and ".join(others)
        mode = "coe" if trained is TrainingFormat.CHAIN_OF_EDITS else "direct"
        msg = (f"{folder} was trained on {trained.value} answers but is used for {wanted}: "
               f"evaluate it with --mode {mode}, or train a model on that format")
        raise FormatMismatchError(msg)
    if not found:
        return None
    expected = PROMPT_VERSIONS[trained]
    other = sorted(found - {expected})
    if other:
        msg = (f"{folder} was trained with prompt version {other[0]!r} but this toolthink "
               f"renders {expected!r}: {fix}")
        raise PromptVersionError(msg)
    return expected
