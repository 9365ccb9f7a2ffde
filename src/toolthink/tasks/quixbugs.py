"""QuixBugs: 40 small Python programs, each with a one-line bug (Koppel et al.).

Source: ``quixbugs/`` in the data folder, copied from github.com/jkoppel/QuixBugs
(MIT). Upstream runs pytest over a rebuilt folder layout; here each program's
tests become plain Python in the MBPP assert convention, so they run in the
sandbox after the code with nothing else:

- 31 programs have JSON test cases (``json_testcases/<name>.json``, one
  ``[args, expected]`` per line). Each case becomes one line,
  ``assert name(arg, ...) == expected``, in one of four forms read from the
  upstream pytest file (plain; ``list(...)`` around the result; the expected
  moves as tuples for ``hanoi``; an absolute tolerance for ``sqrt``). A pytest
  file in any other form is an error, so the conversion cannot drift silently.
  Cases that upstream skips (one slow ``knapsack`` case, one ``levenshtein``
  case) are skipped too and named in the provenance notes.
- 9 graph and linked-list programs have pytest functions that use ``node.py``:
  the tests are ``node.py``'s ``Node`` class, the test functions without their
  pytest imports, then a call of each test function in file order.

The buggy program is ``buggy_program`` without its trailing docstring, which
becomes the problem statement; the reference is ``correct_program``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from toolthink.tasks.sources import DatasetFormatError, dataset_file, read_jsonl
from toolthink.tasks.task import Provenance, RepairTask

__all__ = ["QUIXBUGS_FILE", "load_quixbugs"]

QUIXBUGS_FILE = "quixbugs/quixbugs_python.jsonl"
_SUPPORT_FILE = "quixbugs/support_files.json"
_SOURCE = "github.com/jkoppel/QuixBugs@4257f44"
_FIELDS = ("name", "entry_point", "buggy_program", "correct_program", "pytest_file",
           "json_testcases_file")  # fmt: skip
_HANOI_TRANSFORM = "testdata = [[inp, [tuple(x) for x in out]] for inp, out in testdata]"


def load_quixbugs(data_dir: str | Path) -> tuple[RepairTask, ...]:
    """Load the 40 QuixBugs Python programs as repair tasks.

    Args:
        data_dir: The data folder (the layout of ../shared/data).

    Returns:
        Tasks in file order, ids ``QuixBugs/<name>``.

    Raises:
        DatasetNotFoundError: A file is missing.
        DatasetFormatError: A row or a pytest file has a form this loader does not know.
    """
    path = dataset_file(data_dir, QUIXBUGS_FILE, "QuixBugs")
    support = json.loads(dataset_file(data_dir, _SUPPORT_FILE, "QuixBugs").read_text("utf-8"))
    node_class = str(support["node_py"])
    tasks = []
    for row in read_jsonl(path, "QuixBugs", _FIELDS):
        name = str(row["name"])
        if row["json_testcases_file"]:
            case_file = dataset_file(data_dir, f"quixbugs/{row['json_testcases_file']}", "QuixBugs")
            tests, notes = _json_tests(name, str(row["pytest_file"]), case_file)
        else:
            tests, notes = _graph_tests(name, str(row["pytest_file"]), node_class), ""
        code, statement = _split_docstring(name, str(row["buggy_program"]))
        tasks.append(
            RepairTask(
                task_id=f"QuixBugs/{name}",
                problem=statement,
                buggy_code=code,
                tests=tests,
                entry_point=str(row["entry_point"]),
                reference=str(row["correct_program"]).lstrip("\n"),
                provenance=Provenance("QuixBugs", name, "MIT", _SOURCE, notes),
            )
        )
    return tuple(tasks)


def _split_docstring(name: str, program: str) -> tuple[str, str]:
    """Split a buggy program into its code and the docstring that follows the code."""
    tree = ast.parse(program)
    last = tree.body[-1]
    if not (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Constant)
        and isinstance(last.value.value, str)
    ):
        msg = f"QuixBugs/{name}: the buggy program does not end with its docstring"
        raise DatasetFormatError(msg)
    lines = program.splitlines(keepends=True)
    code = "".join(lines[: last.lineno - 1]).strip("\n") + "\n"
    return code, last.value.value.strip()


def _skipped_inputs(pytest_file: str) -> list[Any]:
    """Inputs compared in ``if ... input_data == [...]: pytest.skip(...)`` guards."""
    skipped = []
    for node in ast.walk(ast.parse(pytest_file)):
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id == "input_data"
            and len(node.comparators) == 1
        ):
            skipped.append(ast.literal_eval(node.comparators[0]))
    return skipped


def _json_tests(name: str, pytest_file: str, case_file: Path) -> tuple[str, str]:
    """One assert per JSON case, in the form the upstream pytest file uses."""
    asserts = [s.strip() for s in pytest_file.splitlines() if s.strip().startswith("assert")]
    forms = {
        f"assert {name}(*input_data) == expected": "plain",
        f"assert list({name}(*input_data)) == expected": "list",
        f"assert {name}(*input_data) == pytest.approx(expected, abs=input_data[-1])": "approx",
    }
    if len(asserts) != 1 or asserts[0] not in forms:
        msg = f"QuixBugs/{name}: unknown pytest form {asserts!r}; extend the loader's table"
        raise DatasetFormatError(msg)
    form = forms[asserts[0]]
    tuples = _HANOI_TRANSFORM in pytest_file
    skipped = _skipped_inputs(pytest_file)
    lines = [f"# QuixBugs {name}: JSON test cases, one assert per case"]
    dropped = 0
    for text in case_file.read_text("utf-8").splitlines():
        if not text.strip():
            continue
        args, expected = json.loads(text)
        if args in skipped:
            dropped += 1
            continue
        if tuples:
            expected = [tuple(x) for x in expected]
        call = f"{name}({', '.join(repr(a) for a in args)})"
        if form == "list":
            lines.append(f"assert list({call}) == {expected!r}")
        elif form == "approx":
            lines.append(f"assert abs({call} - {expected!r}) <= {args[-1]!r}")
        else:
            lines.append(f"assert {call} == {expected!r}")
    notes = f"{dropped} case(s) skipped as upstream skips them" if dropped else ""
    return "\n".join(lines) + "\n", notes


def _graph_tests(name: str, pytest_file: str, node_class: str) -> str:
    """Node class, the pytest functions without pytest, then a call of each test."""
    tree = ast.parse(pytest_file)
    kept = []
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            continue  # pytest, node and the program itself are already in the module
        if isinstance(statement, ast.If) and "pytest.use_correct" in ast.unparse(statement.test):
            continue
        kept.append(statement)
    lines = pytest_file.splitlines()
    body = "\n\n\n".join("\n".join(lines[_first_line(s) - 1 : s.end_lineno]) for s in kept)
    if "pytest" in body:
        msg = f"QuixBugs/{name}: the tests still use pytest after conversion"
        raise DatasetFormatError(msg)
    calls = [s.name for s in kept if isinstance(s, ast.FunctionDef) and s.name.startswith("test")]
    return (
        f"# QuixBugs {name}: node.py, then the upstream test functions, then their calls\n"
        + node_class.strip("\n")
        + "\n\n\n"
        + body
        + "\n\n\n"
        + "".join(f"{call}()\n" for call in calls)
    )


def _first_line(statement: ast.stmt) -> int:
    """The statement's first line, decorators included."""
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])
