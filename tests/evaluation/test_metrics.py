"""pass@k against its definition."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.evaluation.metrics import pass_at_k, summarize


def by_definition(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of the n episodes that hold at least one success."""
    episodes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(episodes[i] for i in s) for s in subsets) / len(subsets)


@given(st.integers(1, 9).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n),
                                                     st.integers(1, n))))
def test_matches_the_definition(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(by_definition(n, c, k))


def test_closed_form_for_large_n() -> None:
    n, c, k = 200, 13, 10
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12)


def test_pass_at_1_is_the_success_rate() -> None:
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 4), (3, 1, 0), (-1, 0, 1)])
def test_inconsistent_counts_are_refused(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def test_summary_overall_and_per_group() -> None:
    outcomes = {"a": [True, False, False, False], "b": [False] * 4, "c": [True] * 4}
    summary = summarize(outcomes, [1, 4], groups={"a": "value misuse", "b": "value misuse"})
    assert summary["all"]["pass@1"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert summary["all"]["pass@4"] == pytest.approx((1 + 0 + 1) / 3)
    assert summary["value misuse"]["tasks"] == 2
    assert summary["value misuse"]["pass@1"] == pytest.approx(0.125)
