"""Advantages for multi-turn GRPO: per-turn returns-to-go normalised across the group.

TRL's GRPO (Shao et al., arXiv 2402.03300) gives every token of a completion
one advantage: the episode's total reward minus its group's mean, divided by
the group's standard deviation ("sequence" advantages). Chain-of-Edits
(Rainone et al., arXiv 2507.05065, section 4.2) modifies it for multi-turn
episodes: each turn ``t`` of trajectory ``i`` gets the return-to-go
``G[i][t] = sum_{u >= t} gamma^(u - t) r[i][u]``, normalised across the
trajectories of the group that reached turn ``t``::

    A[i][t] = (G[i][t] - mean_j G[j][t]) / (std_j G[j][t] + eps)

so a command is credited with what followed it, compared with what the other
samples did from the same turn index. ``std`` is the unbiased standard
deviation, as in TRL; a turn reached by one trajectory only has advantage 0.
Every token of turn ``t`` (its command and end token) carries ``A[i][t]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["per_turn_advantages", "returns_to_go", "token_advantages"]


def returns_to_go(rewards: Sequence[float], gamma: float = 1.0) -> list[float]:
    """Discounted sums of the rewards from each turn to the end.

    Args:
        rewards: Rewards per turn of one trajectory.
        gamma: Discount per turn (1.0: undiscounted, the paper's).

    Returns:
        ``G[t]`` per turn, same length as ``rewards``.
    """
    out = [0.0] * len(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def per_turn_advantages(
    rewards: Sequence[Sequence[float]],
    group_size: int,
    *,
    gamma: float = 1.0,
    scale: bool = True,
    eps: float = 1e-4,
) -> list[list[float]]:
    """Per-turn advantages of trajectories laid out group after group.

    Args:
        rewards: Per-turn rewards of each trajectory; trajectories ``k *
            group_size`` to ``(k + 1) * group_size - 1`` form group ``k``
            (TRL's layout: a prompt's generations are consecutive).
        group_size: Trajectories per group (GRPO's ``num_generations``).
        gamma: Discount of the returns-to-go.
        scale: Divide by the group's std at each turn (False: only centre it,
            as TRL's ``scale_rewards="none"``).
        eps: Added to the std (TRL's 1e-4).

    Returns:
        ``A[i][t]`` per trajectory and turn, shaped like ``rewards``.

    Raises:
        ValueError: ``len(rewards)`` is not a multiple of ``group_size``.
    """
    if group_size < 1 or len(rewards) % group_size:
        msg = (f"{len(rewards)} trajectories do not split into groups of {group_size}: "
               "pass whole groups (num_generations per prompt)")
        raise ValueError(msg)
    returns = [returns_to_go(r, gamma) for r in rewards]
    advantages = [[0.0] * len(r) for r in rewards]
    for start in range(0, len(rewards), group_size):
        members = range(start, start + group_size)
        longest = max((len(returns[i]) for i in members), default=0)
        for t in range(longest):
            reached = [i for i in members if t < len(returns[i])]
            values = [returns[i][t] for i in reached]
            mean = sum(values) / len(values)
            std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                   if len(values) > 1 else 0.0)
            for i, value in zip(reached, values, strict=True):
                centred = value - mean
                if scale:  # a group where all agree has no signal at this turn
                    centred = centred / (std + eps) if std + eps > 0 else 0.0
                advantages[i][t] = centred
    return advantages


def token_advantages(turn_advantages: Sequence[float], turn_of_token: Sequence[int]) -> list[float]:
    """Spread per-turn advantages over tokens.

    Args:
        turn_advantages: ``A[t]`` for one trajectory.
        turn_of_token: The turn of each completion token
            (`toolthink.rollout.episodes.Episode.turn_of_token`).

    Returns:
        One advantage per token; tokens of a turn without an advantage get 0.
    """
    n = len(turn_advantages)
    return [turn_advantages[t] if 0 <= t < n else 0.0 for t in turn_of_token]
