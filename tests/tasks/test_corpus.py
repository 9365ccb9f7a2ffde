"""The embedded corpus: enough varied problems, each passing its tests, none vacuous."""

from __future__ import annotations

import ast
from collections import Counter

from toolthink.tasks import load_embedded_corpus
from toolthink.tool import SandboxPool


def test_the_corpus_is_large_and_varied() -> None:
    problems = load_embedded_corpus()
    assert len(problems) >= 30
    assert len({p.task_id for p in problems}) == len(problems)
    seen: Counter[str] = Counter()
    for problem in problems:
        assert problem.statement.endswith(".")
        tree = ast.parse(problem.solution)
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        assert problem.entry_point in names, problem.task_id
        assert problem.entry_point in problem.tests
        seen.update({type(node).__name__ for node in ast.walk(tree)})
    kinds = ("For", "While", "If", "Try", "Raise", "Yield", "ClassDef", "ListComp", "DictComp",
             "SetComp", "GeneratorExp", "Lambda", "IfExp", "Dict", "Set", "Tuple")  # fmt: skip
    missing = [kind for kind in kinds if not seen[kind]]
    assert not missing
    recursive = [
        p.task_id for p in problems
        if any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == p.entry_point
               for n in ast.walk(ast.parse(p.solution)))
    ]  # fmt: skip
    assert len(recursive) >= 3


def test_every_solution_passes_its_tests(calibration_pool: SandboxPool) -> None:
    problems = load_embedded_corpus()
    reports = calibration_pool.run_batch([(p.solution, p.tests) for p in problems], timeout=20)
    failed = {p.task_id: r.feedback for p, r in zip(problems, reports, strict=True) if not r.passed}
    assert failed == {}


def _stub(entry_point: str) -> str:
    if entry_point[0].isupper():
        return f"class {entry_point}:\n    def __init__(self, *args, **kwargs):\n        pass\n"
    return f"def {entry_point}(*args, **kwargs):\n    return None\n"


def test_no_test_suite_is_vacuous(calibration_pool: SandboxPool) -> None:
    problems = load_embedded_corpus()
    items = [(_stub(p.entry_point), p.tests) for p in problems]
    reports = calibration_pool.run_batch(items, timeout=20)
    passing_stubs = [p.task_id for p, r in zip(problems, reports, strict=True) if r.passed]
    assert passing_stubs == []
