"""Corruption: deterministic, and undone exactly by its trace."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from toolthink.data.corruption import LINE_EDITS, corrupt, string_lines
from toolthink.data.mutations import MUTATIONS, mutate
from toolthink.dsl import Exit, execute
from toolthink.tasks import load_embedded_corpus
from toolthink.tool import CodeEditor

PROGRAMS = [p.solution for p in load_embedded_corpus()]
DONORS = [line for p in PROGRAMS for line in p.split("\n") if line.strip()]
KINDS = LINE_EDITS + tuple(MUTATIONS)


def replay(text: str, commands: tuple[object, ...]) -> str:
    editor = CodeEditor(text)
    outcome = execute(commands, editor) if False else None  # noqa: F841 - see loop
    for command in commands:
        result = execute(command, editor)  # type: ignore[arg-type]
        assert result.ok, result.message
    return editor.source


@settings(max_examples=60)
@given(st.sampled_from(PROGRAMS), st.integers(0, 10_000), st.sampled_from(["reversed", "minimal"]))
def test_trace_undoes_the_corruption_exactly(source: str, seed: int, order: str) -> None:
    result = corrupt(source, random.Random(seed), donors=DONORS, kinds=KINDS)
    assume(result is not None)  # Hypothesis fails the test when nearly none corrupts
    assert result is not None
    trace = result.trace(order)
    assert trace[-1] == Exit()
    assert 1 <= len(result.edits) <= 5
    assert result.corrupted != result.original
    assert replay(result.corrupted, trace) == result.original


def test_same_seed_same_corruption() -> None:
    a = corrupt(PROGRAMS[0], random.Random(7), donors=DONORS, kinds=KINDS)
    b = corrupt(PROGRAMS[0], random.Random(7), donors=DONORS, kinds=KINDS)
    assert a is not None
    assert a == b


def test_minimal_trace_is_never_longer() -> None:
    results = [corrupt(PROGRAMS[seed % len(PROGRAMS)], random.Random(seed), donors=DONORS,
                       kinds=KINDS) for seed in range(40)]
    corrupted = [r for r in results if r is not None]
    assert len(corrupted) >= 30  # a program that cannot be corrupted is the exception
    for result in corrupted:
        assert len(result.trace("minimal")) <= len(result.trace("reversed"))


def test_docstrings_are_left_alone() -> None:
    source = 'def f(x):\n    """Doc\n    more."""\n    return x + 1\n'
    assert string_lines(source) == {1, 2}
    results = [corrupt(source, random.Random(seed), donors=["y = 2"], kinds=LINE_EDITS)
               for seed in range(30)]
    corrupted = [r for r in results if r is not None]
    assert len(corrupted) >= 20  # the return line is always there to corrupt
    for result in corrupted:
        assert '    """Doc\n    more."""\n' in result.corrupted


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown edit kinds"):
        corrupt("x = 1\n", random.Random(0), kinds=["swap everything"])


SOURCE = """def f(xs, n):
    total = 0
    for i in range(len(xs)):
        if xs[i] > n and i < 3:
            total += xs[i]
            xs.append(i)
    return max(total, 0)
"""


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_each_bug_kind_changes_the_program_locally(kind: str) -> None:
    changed = [mutate(SOURCE, kind, random.Random(seed)) for seed in range(5)]
    assert any(c is not None for c in changed)
    for mutated in filter(None, changed):
        compile(mutated, "<mutated>", "exec")
        before, after = SOURCE.split("\n"), mutated.split("\n")
        differing = sum(a != b for a, b in zip(before, after, strict=False))
        assert differing <= 2 or abs(len(before) - len(after)) <= 1


def test_mutation_of_unparseable_code_is_none() -> None:
    assert mutate("def f(:\n", "operator misuse", random.Random(0)) is None
    assert mutate("x = 1\n", "function misuse", random.Random(0)) is None  # no site
