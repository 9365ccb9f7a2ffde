"""The worked example in docs/editor.md is produced by running the editor and the sandbox.

The part of the document between the markers is generated here; the test fails
when the editor's output changes, and ``pytest --update-golden`` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.dsl import execute, parse_command
from toolthink.tool import CodeEditor, render
from toolthink.tool import run_tests as sandbox_run_tests

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "editor.md", ROOT / "README.md"]
BEGIN = "<!-- begin generated: tests/tool/test_docs.py (pytest --update-golden rewrites it) -->\n"
END = "<!-- end generated -->\n"

BUGGY = (
    "def clamp(x, low, high):\n"
    '    """Return x limited to the range [low, high]."""\n'
    "    if x < low:\n"
    "        return high\n"
    "    return x\n"
)
TESTS = [((5, 0, 10), 5), ((-3, 0, 10), 0), ((42, 0, 10), 10)]
COMMANDS = [
    "REPW 4 >>>high >>>low",
    "ADDL 5 >>>    if x > high:",
    "ADDL 6 >>>        return high",
]


def run_tests(editor: CodeEditor) -> str:
    """The feedback the model reads: the real sandbox's, as RepairEnv shows it."""
    tests = "".join(f"assert clamp{args} == {want}\n" for args, want in TESTS)
    return sandbox_run_tests(editor.source, tests, timeout=10).feedback


def example() -> str:
    """The worked example, as Markdown."""
    editor = CodeEditor(BUGGY)
    parts = [
        "The model first sees the buggy function and the test results:\n\n",
        "```text\n", render(editor, run_tests(editor)), "```\n",
    ]
    for i, text in enumerate(COMMANDS, 1):
        outcome = execute(parse_command(text), editor)
        assert outcome.ok, outcome.message
        parts += [
            f"\nCommand {i}: `{text}`\n\n",
            "```text\n", render(editor, run_tests(editor)), "```\n",
        ]
    parts.append(
        f"\nThe tests pass; the model sends `EXIT`. `editor.history` holds the "
        f"{len(editor.history)} commands and `editor.original.text` the buggy code.\n"
    )
    return "".join(parts)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_example_matches_the_editor(path: Path, update_golden: bool) -> None:
    doc = path.read_text(encoding="utf-8")
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    assert begin, f"{path} lacks the marker {BEGIN.strip()}"
    assert end, f"{path} lacks the marker {END.strip()}"
    expected = head + BEGIN + example() + END + tail
    if update_golden:
        path.write_text(expected, encoding="utf-8")
        return
    assert doc == expected, f"{path} is stale: run pytest --update-golden and review the diff"
