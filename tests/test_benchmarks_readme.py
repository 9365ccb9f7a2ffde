"""benchmarks/README.md: every figure that names a committed results file is that file's.

The RL table's rows that cite a ``benchmarks/results/*.jsonl`` file must show
what ``benchmarks/bench_rl.py --steps A-B`` computes from it, at the precision
the row prints; the sandbox text's range of ratios must be its table's.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "benchmarks" / "README.md"
CITED = re.compile(r"(?:mean of )?steps? (\d+)(?:-(\d+))? of `(rl-[\w.-]+\.jsonl)`")


def bench_rl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rl", ROOT / "benchmarks" / "bench_rl.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split(" | ") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("|---")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def rl_rows() -> list[tuple[list[str], re.Match[str]]]:
    cited = []
    for row in table_rows(section("RL")):
        match = CITED.search(row[-1])
        if match:
            cited.append((row, match))
    return cited


def test_the_rl_table_cites_every_results_file() -> None:
    files = {match.group(3) for _, match in rl_rows()}
    assert files == {p.name for p in (ROOT / "benchmarks" / "results").glob("rl-*.jsonl")}


@pytest.mark.parametrize(("row", "match"), rl_rows(), ids=lambda v: str(v)[:40])
def test_rl_row_is_what_the_script_computes(row: list[str], match: re.Match[str]) -> None:
    module = bench_rl()
    first = int(match.group(1))
    last = int(match.group(2) or first)
    records = module.read_steps(ROOT / "benchmarks" / "results" / match.group(3))
    split = module.step_split(records, first, last)
    for cell, key in zip(row[2:6], module.PARTS, strict=True):
        decimals = len(cell.partition(".")[2])
        assert cell == f"{split[key]:.{decimals}f}", (key, row[0])


def test_sandbox_ratio_range_is_the_table_s() -> None:
    text = section("Sandbox").split("\n### ")[0]  # the pool's table, before the subsections
    ratios = [float(row[4]) for row in table_rows(text)]
    assert f"between {min(ratios):.2f} and {max(ratios):.2f}" in text
