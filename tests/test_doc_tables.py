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


BY_HAND_ALLOWED: dict[str, tuple[str, ...]] = {
    "a benchmark script printed these to the terminal (or wrote JSON under /tmp) before "
    "benchmarks/results/ kept files; the runs would take hours of the shared machine again": (
        "benchmarks/README.md#Parser",
        "benchmarks/README.md#Editor",
        "benchmarks/README.md#Constrained decoding",
        "benchmarks/README.md#Sandbox",
        "benchmarks/README.md#One-shot `run_tests` (issue 14)",
        "benchmarks/README.md#The separate tests' process (issue 14)",
        "benchmarks/README.md#One SFT step, fp32 against bf16",
        "benchmarks/README.md#Again on an Intel Xeon with AMX, and without LoRA dropout "
        "(2026-12-04)",
        "benchmarks/README.md#One RL step, fp32 against bf16",
    ),
    "toolthink's own commands (data demos, toolthink-train, eval, demo) wrote their output "
    "folders under /tmp or runs/, which were not kept; the figures were read from them and "
    "from /usr/bin/time by hand": (
        "benchmarks/README.md#Demonstrations",
        "benchmarks/README.md#SFT",
        "benchmarks/README.md#RL",
        "benchmarks/README.md#Greedy evaluation of the two adapters",
        "benchmarks/README.md#Evaluation",
        "benchmarks/README.md#Main job",
        "benchmarks/README.md#Memory",
        "docs/training.md#SFT on CPU",
    ),
    "timings of commands outside toolthink (apt-get, pytest --durations)": (
        "benchmarks/README.md#CI cost of chromium",
    ),
    "a digest of benchmarks/README.md's figures for this page's reader, each row naming "
    "its source": (
        "docs/recipes.md#CPU laptop (measured)",
    ),
}
"""Where a table may be marked as measured by hand: the reason, then the sections (doc#heading).

Keep it short: a new table of figures comes from a results file and a script."""

doc_tables = load_doc_tables()
TABLES = [t for p in doc_tables.doc_paths() for t in doc_tables.tables(p)]
RENDERED = [t for t in TABLES if t.command not in (None, doc_tables.BY_HAND)]
BY_HAND = [t for t in TABLES if t.command == doc_tables.BY_HAND]


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


def test_a_table_measured_by_hand_is_in_an_allowed_section() -> None:
    allowed = {section for sections in BY_HAND_ALLOWED.values() for section in sections}
    assert [table_id(t) for t in BY_HAND if f"{t.doc}#{t.heading}" not in allowed] == []


def test_every_allowed_section_still_holds_a_table_measured_by_hand() -> None:
    marked = {f"{t.doc}#{t.heading}" for t in BY_HAND}
    assert [s for sections in BY_HAND_ALLOWED.values() for s in sections if s not in marked] == []


def test_no_table_of_figures_lacks_a_marker() -> None:
    unmarked = [t for t in TABLES if t.command is None and doc_tables.holds_figures(t.body)]
    assert [f"{table_id(t)} ({t.heading})" for t in unmarked] == []


SCRIPT = """\
import sys


def main(argv):
    print("| a | b |")
    print("| --- | --- |")
    print("| " + " | ".join(argv) + " |")
"""

DOC = """\
# Title

<!-- table: make_table.py 1
  2 -->
| a | b |
| --- | --- |
| 1 | 3 |
<!-- /table -->

## By hand

<!-- table: measured by hand, no results file -->
| date | wall |
|---|---|
| 2026-12-04 | 12 s |
<!-- /table -->

```markdown
<!-- table: missing.py -->
| not | a table |
<!-- /table -->
```

| field | meaning |
|---|---|
| `id` | the task's id |
"""


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    (tmp_path / "make_table.py").write_text(SCRIPT)
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    return path


def test_tables_are_found_with_their_markers_and_sections(doc: Path) -> None:
    found = doc_tables.tables(doc, doc.parent)
    assert [(t.line, t.heading, t.command) for t in found] == [
        (5, "Title", "make_table.py 1 2"),
        (13, "By hand", doc_tables.BY_HAND),
        (24, "By hand", None),
    ]
    assert found[0].body == "| a | b |\n| --- | --- |\n| 1 | 3 |\n"
    assert [doc_tables.holds_figures(t.body) for t in found] == [True, True, False]


def test_write_rewrites_a_stale_table_and_nothing_else(doc: Path) -> None:
    check = [str(doc), "--root", str(doc.parent)]
    assert doc_tables.main(check) == 1
    assert doc_tables.main([*check, "--write"]) == 0
    assert doc.read_text() == DOC.replace("| 1 | 3 |", "| 1 | 2 |")
    assert doc_tables.main(check) == 0


@pytest.mark.parametrize(("body", "figures"), [
    ("| a | b |\n|---|---|\n| 1.5 | 2 |\n", True),
    ("| run | note |\n|---|---|\n| x | 23 s, 8.6 GiB, 1.6x |\n", True),
    ("| option | default |\n|---|---|\n| `--eval` | 0 (off) |\n| `--turns` | 10 |\n"
     "| `--seed` | none |\n| `--out` | runs/ |\n", False),
    ("| stage | what |\n|---|---|\n| jobs | a line after 30 s of silence |\n", False),
])
def test_holds_figures(body: str, figures: bool) -> None:
    assert doc_tables.holds_figures(body) is figures
