"""The prompt template, versioned, in one place.

SFT demonstrations, RL rollouts and evaluation render the system message and
the first user message with these functions only, so a model sees the same
text in training and at inference. Change the text only together with
`PROMPT_VERSION`: demonstrations record the version they were built with, and
evaluation refuses a mismatch (a model trained on one prompt and tested on
another measures the prompt, not the model).

A trained folder may record the version its data was rendered with (a
``prompt_version`` key anywhere in its ``toolthink_*.json`` files);
`check_prompt_version` compares it with `PROMPT_VERSION` for evaluation and for
RL that starts from an SFT adapter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolthink.errors import ToolthinkError

__all__ = [
    "EVALUATION_FIX",
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "PromptVersionError",
    "check_prompt_version",
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


class PromptVersionError(ToolthinkError, ValueError):
    """A folder was trained on another prompt version than this toolthink renders."""


EVALUATION_FIX = "evaluate it with the toolthink version it was trained with, or retrain it"
"""`check_prompt_version`'s default fix: the one for ``toolthink eval``."""


def _versions(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "prompt_version" and isinstance(item, str):
                yield item
            else:
                yield from _versions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _versions(item)


def check_prompt_version(folder: str | Path, *, fix: str = EVALUATION_FIX) -> str | None:
    """The prompt version ``folder`` records, checked against `PROMPT_VERSION`.

    Args:
        folder: A trained folder (SFT or RL output) with ``toolthink_*.json`` files.
        fix: What the error tells the user to do (default: `EVALUATION_FIX`).

    Returns:
        The recorded version, or None when the folder records none (not checked).

    Raises:
        PromptVersionError: A recorded version differs from `PROMPT_VERSION`; the
            message names ``folder``, both versions and ``fix``.
    """
    found: set[str] = set()
    for path in sorted(Path(folder).glob("toolthink*.json")):
        try:
            found.update(_versions(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            logger.warning("could not read %s; prompt version not checked there", path)
    if not found:
        logger.info("%s records no prompt version: not checked", folder)
        return None
    other = sorted(found - {PROMPT_VERSION})
    if other:
        msg = (f"{folder} was trained with prompt version {other[0]!r} but this toolthink "
               f"renders {PROMPT_VERSION!r}: {fix}")
        raise PromptVersionError(msg)
    return PROMPT_VERSION
