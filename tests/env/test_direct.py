"""The direct-answer format: its prompt, its target and the answer parsing."""

from __future__ import annotations

import pytest

from toolthink.env.direct import direct_message, direct_target, extract_code


@pytest.mark.parametrize(("text", "code"), [
    ("```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"),
    ("Here:\n```\nx = 1\n```", "x = 1\n"),
    ("```py\nx = 1\n```\n```python\ny = 2\n```", "x = 1\n"),
    ("```python\nx = 1\n", "x = 1\n"),  # cut before the closing fence
    ("x = 1", "x = 1\n"),  # no fence: the whole answer
])
def test_extract_code(text: str, code: str) -> None:
    assert extract_code(text) == code


def test_message_shows_problem_tests_and_code() -> None:
    text = direct_message("Add two numbers.", "assert add(1, 2) == 3\n",
                          "def add(a, b):\n    return a - b\n")
    assert "Add two numbers." in text
    assert "assert add(1, 2) == 3" in text
    assert "```python\ndef add(a, b):\n    return a - b\n```" in text


@pytest.mark.parametrize("code", [
    "def f():\n    return 1\n",
    "def f():\n    return 1\n\n\n",
    "\n\nx = '```'\n",  # a fence inside a string literal is not at a line start
    "def f():\n    return 1",
])
def test_target_round_trips(code: str) -> None:
    assert extract_code(direct_target(code)) == code.strip("\n") + "\n"
