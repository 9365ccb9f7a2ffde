"""docs/tutorial.md runs: its code blocks are executed and their output compared.

Every ```python block of the tutorial runs, in order, in one namespace (as a
reader pasting them into one session would). The ```text block that directly
follows a Python block is what that block prints; a Python block with no text
block after it must print nothing. The test fails when the package's output
changes, so the tutorial cannot go stale; ``pytest --update-golden`` rewrites
the text blocks from the current output (review the diff before committing).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```\n", re.DOTALL | re.MULTILINE)


def _blocks(doc: str) -> list[re.Match[str]]:
    return list(FENCE.finditer(doc))


def _run(code: str, namespace: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), namespace)  # the tutorial's own code
    return out.getvalue()


def rendered(doc: str) -> str:
    """The tutorial with every output block replaced by what its code prints now."""
    blocks = _blocks(doc)
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    parts: list[str] = []
    cursor = 0
    try:
        for i, block in enumerate(blocks):
            if block["lang"] != "python":
                continue
            printed = _run(block["body"], namespace)
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            follows = (after is not None and after["lang"] == "text"
                       and not doc[block.end():after.start()].strip())
            if follows:
                assert after is not None
                parts += [doc[cursor:after.start()], "```text\n", printed, "```\n"]
                cursor = after.end()
            else:
                line = doc.count("\n", 0, block.start()) + 1
                assert not printed, (
                    f"{DOC.name}:{line}: this Python block prints, but no ```text block "
                    f"follows it to show the output:\n{printed}")
    finally:
        env = namespace.get("env")
        if env is not None:
            env.close()
    parts.append(doc[cursor:])
    return "".join(parts)


def test_tutorial_has_code_and_output() -> None:
    langs = [b["lang"] for b in _blocks(DOC.read_text("utf-8"))]
    assert langs.count("python") >= 5
    assert langs.count("text") >= 5


def test_tutorial_output_matches_the_package(update_golden: bool) -> None:
    doc = DOC.read_text("utf-8")
    expected = rendered(doc)
    if update_golden:
        DOC.write_text(expected, encoding="utf-8")
        return
    assert doc == expected, (
        f"{DOC} is stale: its code prints something else now; run "
        "pytest tests/test_docs_tutorial.py --update-golden and review the diff")
