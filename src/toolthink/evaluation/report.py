"""The results of ``toolthink eval``: the terminal table and the files.

``results.json`` holds the run's settings and, per mode, pass@k overall and by
bug kind, mean turns and generated tokens; ``episodes.jsonl`` every attempt in
the `toolthink.evaluation.show` format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from toolthink.evaluation.episode_view import turns_note
from toolthink.evaluation.evaluator import ModeResult
from toolthink.jsonl import write_jsonl

__all__ = ["results_table", "write_results"]


def results_table(results: Sequence[ModeResult], ks: Sequence[int], *, title: str,
                  max_turns: int | None = None) -> Table:
    """Rows: overall then each bug kind; columns: pass@k per mode side by side (percent).

    The caption explains the mean turns when no episode sent ``EXIT`` (`turns_note`).
    """
    coe = next((r for r in results if r.mode == "chain-of-edits"), None)
    table = Table(title=title, caption=turns_note(coe.exit_rate if coe else None, max_turns))
    table.add_column("bug kind")
    table.add_column("tasks", justify="right")
    for result in results:
        for k in ks:
            table.add_column(f"{result.mode}\npass@{k}", justify="right")
    groups = ["all", *sorted({g for r in results for g in r.summary} - {"all"})]
    for group in groups:
        first = next((r.summary[group] for r in results if group in r.summary), {})
        cells = [group, str(int(first.get("tasks", 0)))]
        for result in results:
            row = result.summary.get(group, {})
            for k in ks:
                value = row.get(f"pass@{k}")
                cells.append("-" if value is None else f"{100 * value:.1f}")
        table.add_row(*cells, end_section=group == "all")
    table.add_section()
    for label, attribute, fmt in (("mean turns", "mean_turns", "{:.2f}"),
                                  ("mean generated tokens", "mean_generated_tokens", "{:.0f}"),
                                  ("seconds in this mode", "seconds", "{:.0f}")):
        cells = [label, ""]
        for result in results:
            cells += [fmt.format(getattr(result, attribute))] + [""] * (len(ks) - 1)
        table.add_row(*cells)
    return table


def write_results(out: Path, results: Sequence[ModeResult], settings: dict[str, Any]) -> None:
    """Write ``results.json`` and ``episodes.jsonl`` into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"settings": settings, "modes": {r.mode: r.as_dict() for r in results}}
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    write_jsonl(out / "episodes.jsonl", (record for r in results for record in r.records))
