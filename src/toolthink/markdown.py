"""Markdown tables, for the summaries a run writes beside its figures.

Outside the layers, like `toolthink.jsonl`: training (a curve with too few
points, `toolthink.training.rl_log`), evaluation and the demo
(``summary.md``, `toolthink.pipeline`) write the same kind of table.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIN_CURVE_POINTS", "cell", "markdown_table"]

MIN_CURVE_POINTS = 3
"""Fewer points than this are written as a table, not drawn as a curve: a curve of
one or two points reads as a broken figure (issue 17, a one-step RL run)."""


def cell(value: object) -> str:
    """``value`` as one table cell: floats to 4 significant digits, ``|`` escaped, one line."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return " ".join(text.replace("|", "\\|").split())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (header, rule, one line per row), newline-terminated.

    Raises:
        ValueError: A row's length differs from the header's.
    """
    for number, row in enumerate(rows, 1):
        if len(row) != len(header):
            msg = f"row {number} has {len(row)} cells for {len(header)} columns: {list(row)!r}"
            raise ValueError(msg)
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(cell(v) for v in line) + " |\n" for line in lines)
