"""Per-turn GRPO advantages on a hand-computed example."""

from __future__ import annotations

import math

import pytest

from toolthink.training.advantages import per_turn_advantages, returns_to_go, token_advantages

# One group of three trajectories:
#   a: turn 0 nothing, turn 1 fixes (+1)          -> returns-to-go [1, 1]
#   b: malformed (-0.5), then two neutral turns   -> [-0.5, 0, 0]
#   c: exits at once without a fix                -> [0]
GROUP = [[0.0, 1.0], [-0.5, 0.0, 0.0], [0.0]]


def test_returns_to_go() -> None:
    assert returns_to_go([0.0, 1.0]) == [1.0, 1.0]
    assert returns_to_go([-0.5, 0.0, 1.0]) == [0.5, 1.0, 1.0]
    assert returns_to_go([1.0, 1.0], gamma=0.5) == [1.5, 1.0]
    assert returns_to_go([]) == []


def test_centred_per_turn_by_hand() -> None:
    # turn 0: G = [1, -0.5, 0], mean 1/6; turn 1: G = [1, 0], mean 1/2; turn 2: b alone
    got = per_turn_advantages(GROUP, 3, scale=False)
    expected = [[5 / 6, 1 / 2], [-2 / 3, -1 / 2, 0.0], [-1 / 6]]
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want)


def test_normalised_per_turn_by_hand() -> None:
    # turn 0: unbiased var = (25/36 + 16/36 + 1/36) / 2 = 7/12; turn 1: std = sqrt(1/2)
    s0, s1 = math.sqrt(7 / 12), math.sqrt(1 / 2)
    got = per_turn_advantages(GROUP, 3, eps=0.0)
    expected = [[(5 / 6) / s0, 0.5 / s1], [(-2 / 3) / s0, -0.5 / s1, 0.0], [(-1 / 6) / s0]]
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want)


def test_groups_are_normalised_separately() -> None:
    got = per_turn_advantages([[1.0], [0.0], [5.0], [5.0]], 2, eps=0.0)
    assert got[0][0] == pytest.approx(1 / math.sqrt(2))
    assert got[1][0] == pytest.approx(-1 / math.sqrt(2))
    assert got[2] == got[3] == [0.0]


def test_whole_groups_are_required() -> None:
    with pytest.raises(ValueError, match="3 trajectories do not split into groups of 2"):
        per_turn_advantages(GROUP, 2)


def test_tokens_carry_their_turn_advantage() -> None:
    assert token_advantages([0.5, -1.0], [0, 0, 0, 1, 1]) == [0.5, 0.5, 0.5, -1.0, -1.0]
    assert token_advantages([], [0]) == [0.0]


def test_the_default_eps_is_trls() -> None:
    # TRL divides by (std + 1e-4); so does the default, one turn, by hand
    s0 = math.sqrt(7 / 12)
    got = per_turn_advantages(GROUP, 3)[0][0]
    assert got == pytest.approx((5 / 6) / (s0 + 1e-4), rel=1e-9)
    assert got != pytest.approx((5 / 6) / s0, rel=1e-9)
    # a group that agrees has no signal, and no division by zero
    assert per_turn_advantages([[1.0], [1.0]], 2) == [[0.0], [0.0]]
