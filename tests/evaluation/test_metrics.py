"""pass@k against its definition."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolthink.evaluation.metrics import (
    bootstrap_interval,
    episode_stats,
    pass_at_k,
    pass_by_turn_budget,
    summarize,
    wilson_interval,
)


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


# Wilson by hand, z = 1.96: centre (p + z^2/2n) / (1 + z^2/n), half-width
# z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n). For n = 48: z^2/n = 0.080031.
# 0/48: centre = half = 0.040016 / 1.080031 = 0.037050 -> (0, 0.0741).
# 5/48: p = 0.104167, centre 0.144183 / 1.080031 = 0.133499,
#       half 1.96 sqrt(0.0019441 + 0.00041683) / 1.080031 = 0.088179 -> (0.0453, 0.2217).
@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (0, 48, 0.0, 0.0741),
    (5, 48, 0.0453, 0.2217),
    (48, 48, 0.9259, 1.0),
    (1, 2, 0.0945, 0.9055),
])
def test_wilson_by_hand(successes: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="got 5/4"):
        wilson_interval(5, 4)


def test_bootstrap_is_degenerate_for_equal_values_and_covers_the_mean() -> None:
    assert bootstrap_interval([1.0] * 10) == (1.0, 1.0)
    values = [1.0] * 5 + [0.0] * 45
    low, high = bootstrap_interval(values)
    assert low < 0.1 < high
    # the 2.5th..97.5th percentile of a mean of 50 Bernoulli(0.1) draws: about 0.02..0.18
    assert 0.0 <= low <= 0.04
    assert 0.16 <= high <= 0.22
    assert bootstrap_interval(values) == (low, high)  # seeded


def test_summary_carries_intervals() -> None:
    outcomes = {f"t{i}": [i < 5] for i in range(48)}
    row = summarize(outcomes, [1])["all"]
    assert row["pass@1"] == pytest.approx(5 / 48)
    assert (row["pass@1_low"], row["pass@1_high"]) == pytest.approx((0.0453, 0.2217), abs=1e-4)
    sampled = {"a": [True, False], "b": [False, False]}
    two = summarize(sampled, [1, 2])["all"]
    assert two["pass@2"] == pytest.approx(0.5)
    assert two["pass@2_low"] == 0.0
    assert two["pass@2_high"] == 1.0


def record(tokens: int, turns: int, passed: bool, first: int | None,
           exited: bool | None = True) -> dict[str, object]:
    base: dict[str, object] = {"generated_tokens": tokens, "turns": [{}] * turns,
                               "passed": passed, "first_pass_turn": first}
    if exited is not None:
        base["exited"] = exited
    return base


def test_episode_stats_by_hand() -> None:
    records = [record(10, 2, True, 1), record(30, 4, False, None, exited=False),
               record(20, 3, True, 3), record(0, 1, False, None)]  # the last: EXIT on failing
    stats = episode_stats(records)
    assert stats["exit_failing_share"] == pytest.approx(1 / 4)
    records = records[:3]
    stats = episode_stats(records)
    assert stats["exit_failing_share"] == 0.0
    assert stats["tokens_per_task"] == 20.0  # 60 tokens / 3 attempts
    assert stats["tokens_per_solved_task"] == 30.0  # 60 tokens / 2 repairs
    assert stats["mean_turns"] == 3.0
    assert stats["mean_turns_solved"] == 2.5
    assert stats["exit_share"] == pytest.approx(2 / 3)
    direct = episode_stats([record(5, 1, False, None, exited=None)])
    assert direct["exit_share"] is None
    assert direct["exit_failing_share"] is None
    assert direct["tokens_per_solved_task"] is None
    assert direct["stuck_share"] is None


def test_stuck_share_counts_resent_commands_that_changed_nothing() -> None:
    def turn(command: str, code: str) -> dict[str, str]:
        return {"command": command, "code": code}

    looping = {"generated_tokens": 9, "passed": False, "exited": False, "initial_code": "a",
               "turns": [turn("REPW 1 >>>z >>>y", "a"),   # rejected: code unchanged
                         turn("REPW 1 >>>z >>>y", "a"),   # resent: stuck
                         turn("DELL 1", ""),              # something else
                         turn("DELL 1", "")]}             # resent, but DELL 1 changed the code
    moving = {"generated_tokens": 3, "passed": True, "exited": True, "initial_code": "a",
              "turns": [turn("REPL 1 >>>b", "b"), turn("REPL 1 >>>b", "b"), turn("EXIT", "b")]}
    assert episode_stats([looping])["stuck_share"] == pytest.approx(1 / 3)
    # moving's second REPL follows one that changed the code: not stuck; its EXIT is new
    assert episode_stats([looping, moving])["stuck_share"] == pytest.approx(1 / 5)


def test_turn_budget_from_one_run() -> None:
    records = [record(1, 2, True, 1),  # passed after turn 1, EXIT at turn 2
               record(1, 4, False, 3, exited=False),  # passed at 3, broke it again
               record(1, 5, True, 5), record(1, 5, False, None)]
    curve = pass_by_turn_budget(records, 5)
    assert [c["tests_pass"] for c in curve] == [0.25, 0.25, 0.5, 0.5, 0.75]
    assert [c["repaired"] for c in curve] == [0.0, 0.25, 0.25, 0.25, 0.5]
