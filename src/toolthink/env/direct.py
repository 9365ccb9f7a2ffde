"""The direct-answer format: the model rewrites the whole program in one turn.

The paper's baseline answers with the fixed code at once (Rainone et al.,
arXiv 2507.05065, section 5). Its prompt lives here, below training and
evaluation, because both render it: SFT on direct demonstrations
(`toolthink.data.direct`) trains on `direct_message` -> `direct_target`, and
``toolthink eval --mode direct`` (`toolthink.evaluation.direct`) asks with the
same `direct_message` and reads the answer with `extract_code`. Change the text
only together with `DIRECT_PROMPT_VERSION` (a trained folder records it, and
evaluation refuses a mismatch: `toolthink.env.check_prompt_version`).
"""

from __future__ import annotations

import re

__all__ = ["DIRECT_PROMPT_VERSION", "DIRECT_SYSTEM_PROMPT", "direct_message", "direct_target",
           "extract_code"]

DIRECT_PROMPT_VERSION = "toolthink-direct-1"
"""Identifies the direct prompt below; bump it with every change to the text."""

DIRECT_SYSTEM_PROMPT = """\
You repair Python code. Reply with the whole corrected program in one \
```python code block, and nothing else."""

# The closing fence must start a line: a program may hold ``` inside a string.
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)


def direct_message(problem: str, tests: str, buggy_code: str, *,
                   max_test_chars: int = 2_000) -> str:
    """The user message: the problem, the tests and the buggy program in a code block.

    Args:
        problem: The statement in prose (may be empty: left out).
        tests: The test source; its first ``max_test_chars`` characters are shown.
        buggy_code: The program to repair, shown without line numbers.
        max_test_chars: The longest test text shown, in characters (0 hides them).
    """
    parts = []
    if problem.strip():
        parts.append(f"Problem:\n{problem.strip()}")
    shown = tests.strip()
    if max_test_chars > 0 and shown:
        parts.append(f"Tests:\n{shown[:max_test_chars]}")
    parts.append(f"Buggy code:\n```python\n{buggy_code.rstrip()}\n```")
    return "\n\n".join(parts)


def direct_target(code: str) -> str:
    """The answer a direct demonstration trains on: ``code`` in one fenced block.

    `extract_code` of the result gives ``code`` back (trailing newlines
    normalised to one).
    """
    return f"```python\n{code.strip(chr(10)).rstrip()}\n```"


def extract_code(text: str) -> str:
    """The first fenced code block of ``text`` (an unclosed one runs to the end), else all of it.

    The block ends at the first line that starts with a fence, so a program
    holding a fence inside a line (in a string) round-trips through `direct_target`.
    """
    match = _FENCE.search(text)
    code = match.group(1) if match else text
    return code.strip("\n") + "\n"
