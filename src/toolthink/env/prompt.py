"""The prompt template, versioned, in one place.

SFT demonstrations, RL rollouts and evaluation render the system message and
the first user message with these functions only, so a model sees the same
text in training and at inference. Change the text only together with
`PROMPT_VERSION`: demonstrations record the version they were built with, and
evaluation refuses a mismatch (a model trained on one prompt and tested on
another measures the prompt, not the model).
"""

from __future__ import annotations

__all__ = ["PROMPT_VERSION", "SYSTEM_PROMPT", "task_message"]

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
