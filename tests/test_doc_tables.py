"""The docs' tables of figures are what committed scripts print from committed results files.

benchmarks/doc_tables.py finds each table between ``<!-- table: COMMAND -->`` and
``<!-- /table -->`` in benchmarks/README.md and docs/*.md; here each is rendered
again (the scripts' ``--from-results`` modes read files, load no model) and must
equal the text. Tables measured by hand are accepted only in the sections of
`BY_HAND_ALLOWED`, each with its reason; any other table that looks like
figures must carry a marker.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]


def load_doc_tables() -> ModuleType:
    path = ROOT / "benchmarks" / "doc_tables.py"
    spec = importlib.util.spec_from_file_location("doc_tables", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


doc_tables = load_doc_tables()
TABLES = [t for p in doc_tables.doc_paths() for t in doc_tables.tables(p)]
RENDERED = [t for t in TABLES if t.command not in (None, doc_tables.BY_HAND)]


def table_id(table: Any) -> str:
    return f"{table.doc}:{table.line}"


@pytest.mark.parametrize("table", RENDERED, ids=table_id)
def test_a_rendered_table_is_what_its_command_prints(table: Any) -> None:
    assert doc_tables.render(table.command) == table.body, (
        f"stale: run `python benchmarks/doc_tables.py --write` ({table_id(table)})")


def test_every_committed_results_file_has_a_table() -> None:
    named = " ".join(t.command for t in RENDERED)
    files = sorted((ROOT / "benchmarks" / "results").iterdir())
    assert [p.name for p in files if f"benchmarks/results/{p.name}" not in named] == []


def test_the_sandbox_text_s_ratio_range_is_its_table_s() -> None:
    table = next(t for t in TABLES if (t.doc, t.heading) == ("benchmarks/README.md", "Sandbox"))
    ratios = [float(row.split("|")[5]) for row in table.body.splitlines()[2:]]
    text = (ROOT / table.doc).read_text(encoding="utf-8")[table.end:]
    assert f"between {min(ratios):.2f} and {max(ratios):.2f}" in text.split("\n### ")[0]
