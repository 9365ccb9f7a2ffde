"""The advantages that reach GRPO's loss: the paper's per-turn values, token by token.

One training step on a hand-made group of four two-turn episodes (the tiny
model plays, then each episode's tokens and rewards are replaced): the
``advantages`` `ChainOfEditsTrainer._compute_loss` receives are compared with
values computed by hand (Rainone et al., arXiv 2507.05065, section 4.2;
`toolthink.training.advantages`).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import torch

from tests.tiny_models import tiny_llama
from toolthink.training.rl_cli import train
from toolthink.training.rl_rollout import EpisodeRollout

from .test_rl import rl_config

REWARDS = [(0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (-1.0, 0.0)]  # per turn, one group
TURN_OF_TOKEN = (0, 0, 0, 1, 1, 1)  # three tokens per turn

# By hand (gamma 1, unbiased std, eps 1e-4 as TRL):
# turn 0: returns-to-go 1, 1, 0, -1: mean 0.25, std sqrt(2.75 / 3) = 0.957427
# turn 1: returns-to-go 1, 0, 0, 0: mean 0.25, std 0.5
_STD0, _STD1 = math.sqrt(2.75 / 3) + 1e-4, 0.5 + 1e-4
TURN0 = [0.75 / _STD0, 0.75 / _STD0, -0.25 / _STD0, -1.25 / _STD0]
TURN1 = [0.75 / _STD1, -0.25 / _STD1, -0.25 / _STD1, -0.25 / _STD1]
PER_TURN = [[a] * 3 + [b] * 3 for a, b in zip(TURN0, TURN1, strict=True)]
# TRL's sequence-level GRPO: the totals 1, 1, 0, -1 normalised, the same for every token
SEQUENCE = TURN0


@pytest.fixture
def hand_made_group(monkeypatch: pytest.MonkeyPatch,
                    loss_inputs: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Episodes replaced by the group above; returns what `_compute_loss` receives, per call."""
    play = EpisodeRollout._play

    def hand_made(self: EpisodeRollout, model: Any, tasks: Any) -> list[Any]:
        played = play(self, model, tasks)
        assert len(played) == len(REWARDS)  # one group of num_generations
        return [attrs.evolve(
            episode, completion_ids=tuple(range(100 + 10 * i, 106 + 10 * i)),  # row i's own ids
            env_mask=(1,) * 6, logprobs=(0.0,) * 6, turn_of_token=TURN_OF_TOKEN,
            rewards=REWARDS[i]) for i, episode in enumerate(played)]

    monkeypatch.setattr(EpisodeRollout, "_play", hand_made)
    return loss_inputs


def _by_row(seen: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """The advantages of each hand-made episode (TRL shuffles the rows), by its index."""
    rows = {}
    for ids, advantages in zip(seen["completion_ids"], seen["advantages"], strict=True):
        rows[(int(ids[0]) - 100) // 10] = advantages
    assert sorted(rows) == [0, 1, 2, 3]
    return rows


def test_per_token_advantages_in_the_loss_are_the_per_turn_ones(
        tmp_path, tokenizer, hand_made_group) -> None:
    config = rl_config(tmp_path, max_steps=1, advantage="per_turn", mask_replay=False)
    train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    (seen,) = hand_made_group
    assert seen["advantages"].shape == seen["completion_ids"].shape  # (B, C): one per token
    for row, advantages in _by_row(seen).items():
        assert advantages[:6].tolist() == pytest.approx(PER_TURN[row], abs=1e-5)
        assert (advantages[6:] == 0).all()  # padding
        # turn 1 is where the paper parts from TRL: what followed, not the whole episode
        assert advantages[3:6].tolist() != pytest.approx([SEQUENCE[row]] * 3, abs=1e-3)


def test_sequence_advantages_in_the_loss_are_trls(tmp_path, tokenizer, hand_made_group) -> None:
    config = rl_config(tmp_path, max_steps=1, advantage="sequence", mask_replay=False)
    train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    (seen,) = hand_made_group
    assert seen["advantages"].dim() == 1  # (B,): one per episode
    for row, advantage in _by_row(seen).items():
        assert float(advantage) == pytest.approx(SEQUENCE[row], abs=1e-5)
