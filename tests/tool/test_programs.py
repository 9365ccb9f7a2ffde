"""The sandbox's programs, assembled from parts: one namespace, no name defined twice."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from toolthink.tool import programs

PROGRAMS = {
    "launcher": programs.LAUNCHER,
    "harness": programs.HARNESS,
    "tests_runner": programs.TESTS_RUNNER,
    "proxies": programs.PROXIES,
    "candidate": programs.CANDIDATE,
    "wire": programs.WIRE,
    "zygote": programs.ZYGOTE,
}
GUARD = 'TYPE_CHECKING or __name__.startswith("toolthink.")'
BOILERPLATE = {"TYPE_CHECKING"}


def _tree(part: str) -> ast.Module:
    return ast.parse(programs._source(part), part)


def _defined(tree: ast.Module) -> set[str]:
    """Top-level names a part defines itself (not imports, not its TYPE_CHECKING flag)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names - BOILERPLATE


def _guarded(tree: ast.Module) -> set[str]:
    """Names a part imports from other parts (in its guarded block)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == GUARD:
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                names.update(alias.asname or alias.name for alias in statement.names)
    return names


@pytest.mark.parametrize("parts", PROGRAMS.values(), ids=list(PROGRAMS))
def test_no_two_parts_of_a_program_define_one_name(parts: tuple[str, ...]) -> None:
    seen: dict[str, str] = {}
    for part in parts:
        for name in _defined(_tree(part)):
            assert name not in seen, f"{name} is defined in both {seen[name]} and {part}"
            seen[name] = part


@pytest.mark.parametrize("parts", PROGRAMS.values(), ids=list(PROGRAMS))
def test_each_guarded_name_comes_from_an_earlier_part(parts: tuple[str, ...]) -> None:
    earlier: set[str] = set()
    for part in parts:
        tree = _tree(part)
        missing = _guarded(tree) - earlier
        assert not missing, f"{part} imports {sorted(missing)}, which no earlier part defines"
        earlier |= _defined(tree)


ASSEMBLED = {name: parts for name, parts in PROGRAMS.items() if len(parts) > 1}


@pytest.mark.parametrize("parts", ASSEMBLED.values(), ids=list(ASSEMBLED))
def test_an_assembled_program_runs_without_toolthink_importable(parts: tuple[str, ...]) -> None:
    # As in the sandbox: -I -S (no site-packages, so no toolthink), a module
    # name that is not the package's (the launcher runs its programs as
    # __main__ or _toolthink_...; __main__ would start them here), and the
    # wire module the candidate's boot program sets up before the candidate.
    source = programs.program(parts)
    assert source.count("from __future__ import annotations\n") == 1
    check = ("import sys\n"
             "wire = type(sys)('_toolthink_wire')\n"
             "exec(compile(sys.argv[2], '<wire>', 'exec'), wire.__dict__)\n"
             "sys.modules['_toolthink_wire'] = wire\n"
             "exec(compile(sys.argv[1], '<program>', 'exec'), {'__name__': '_toolthink_check'})\n"
             "print('ok')\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-I", "-S", "-c", check, source,
                             programs.program(programs.WIRE)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_a_single_part_is_passed_unchanged() -> None:
    assert programs.program(programs.WIRE) == programs._source("_wire.py")
