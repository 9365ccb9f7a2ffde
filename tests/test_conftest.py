"""Each pytest fixture is defined once across the suite's conftest files (STYLE.md: tests).

A fixture two packages share lives in the nearest common conftest; a package
redefines one only to override it on purpose, listed in `OVERRIDES`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent

OVERRIDES = {
    # SFT tests train a 2-layer tiny model (tests/training/sft_support.py); the others
    # save the session's 1-layer `tiny_model`.
    "tiny_model_dir": {"tests/training/conftest.py", "tests/conftest.py"},
}


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "fixture"


def _fixtures(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any(_is_fixture(d) for d in node.decorator_list)]


def test_each_fixture_is_defined_in_one_conftest() -> None:
    where: dict[str, set[str]] = defaultdict(set)
    for path in sorted(TESTS.rglob("conftest.py")):
        for name in _fixtures(path):
            where[name].add(str(path.relative_to(TESTS.parent)))
    twice = {name: files for name, files in where.items()
             if len(files) > 1 and files != OVERRIDES.get(name)}
    assert not twice, f"fixtures defined in several conftest files: {twice}"
    assert {"embedded_cache", "tokenizer", "sandbox_pool"} <= set(where)
