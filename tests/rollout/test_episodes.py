"""Multi-turn episodes: token-in/token-out layout, masks and log-probs."""

from __future__ import annotations

import itertools

import pytest
import torch
from transformers import LlamaForCausalLM

from tests.tiny_models import tiny_llama
from toolthink.data.bugs import draw_bugs
from toolthink.env import EnvConfig
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.episodes import Episode, RolloutConfig, run_episodes
from toolthink.tasks import RepairTask, load_embedded_corpus
from toolthink.tasks.bug_kinds import LINE_EDITS
from toolthink.tool import SandboxPool

from .support import DeviceProbe


def easy_tasks(count: int, seed: int = 0) -> list[RepairTask]:
    """One-line synthetic bugs in the embedded corpus (not run: they may pass their tests)."""
    bugs = draw_bugs(load_embedded_corpus(), seed=seed, max_edits=1, kinds=LINE_EDITS)
    return [bug.task() for bug in itertools.islice(bugs, count)]


@pytest.fixture(scope="module")
def policy(tokenizer) -> LlamaForCausalLM:
    return tiny_llama(len(tokenizer)).eval()


@pytest.fixture(scope="module")
def episodes(policy, tokenizer) -> list[Episode]:
    torch.manual_seed(1)
    with SandboxPool() as pool:
        return run_episodes(
            policy, tokenizer, easy_tasks(2) * 2, sandbox=pool,
            env_config=EnvConfig(max_turns=3), config=RolloutConfig(max_new_tokens=16),
        )


def test_every_token_has_a_mask_a_log_prob_and_a_turn(episodes) -> None:
    for episode in episodes:
        n = len(episode.completion_ids)
        assert n == len(episode.env_mask) == len(episode.logprobs) == len(episode.turn_of_token)
        assert len(episode.commands) == len(episode.rewards) == len(episode.infos)
        pairs = zip(episode.logprobs, episode.env_mask, strict=True)
        assert all(lp == 0.0 for lp, m in pairs if m == 0)
        assert all(lp <= 0.0 for lp in episode.logprobs)
        assert list(episode.turn_of_token) == sorted(episode.turn_of_token)
        assert max(episode.turn_of_token) == episode.turns - 1


def test_completion_is_sampled_ids_then_environment_ids(episodes, tokenizer) -> None:
    chat = ChatFormat.from_tokenizer(tokenizer)
    end = chat.command_ids("")
    for episode in episodes:
        expected: list[int] = []
        mask: list[int] = []
        ids = list(episode.completion_ids)
        for turn, command in enumerate(episode.commands):
            sampled = [i for i, t in zip(ids, episode.turn_of_token, strict=True) if t == turn]
            turn_mask = zip(episode.env_mask, episode.turn_of_token, strict=True)
            n_model = sum(m for m, t in turn_mask if t == turn)
            assert tokenizer.decode(sampled[: n_model]).startswith(command)
            piece = sampled[:n_model]
            expected += piece
            mask += [1] * n_model
            if piece[-len(end):] != end:  # cut at max_new_tokens: EOS added as environment text
                expected += end
                mask += [0] * len(end)
            if turn < episode.turns - 1:
                observation = chat.observation_ids(episode.observations[turn])
                expected += observation
                mask += [0] * len(observation)
        assert ids == expected
        assert list(episode.env_mask) == mask


def test_each_turn_keeps_its_code_and_report(episodes) -> None:
    for episode in episodes:
        assert len(episode.codes) == len(episode.feedbacks) == episode.turns
        for observation, feedback in zip(episode.observations, episode.feedbacks, strict=True):
            assert observation.endswith("***\n" + feedback)


def test_the_head_is_the_chat_template_prompt(episodes, tokenizer) -> None:
    text = tokenizer.decode(list(episodes[0].prompt_ids))
    assert text.endswith("<|im_start|>assistant\n")
    assert "running_max" in text


def test_a_token_budget_cut_is_a_failed_truncated_episode(policy, tokenizer) -> None:
    with SandboxPool() as pool:
        (episode,) = run_episodes(
            policy, tokenizer, easy_tasks(1), sandbox=pool,
            config=RolloutConfig(max_new_tokens=16, max_total_tokens=100),
        )
    assert episode.truncated
    assert not episode.passed
    assert episode.turns == 0
    assert episode.completion_ids == ()
    assert episode.rewards == (EnvConfig().no_exit_penalty,)


def test_generation_inputs_go_to_the_model_device(policy, tokenizer) -> None:
    probe = DeviceProbe(policy)  # reports the meta device: inputs left on the CPU fail
    with SandboxPool() as pool:
        (episode,) = run_episodes(probe, tokenizer, easy_tasks(1), sandbox=pool,
                                  env_config=EnvConfig(max_turns=1),
                                  config=RolloutConfig(max_new_tokens=4))
    assert probe.calls == probe.forwards == 1  # the prompt's prefill, then generate
    assert len(episode.completion_ids) == len(episode.logprobs) >= 1


def test_a_bfloat16_policy_plays_episodes(policy, tokenizer) -> None:
    """Half-precision weights (a GPU run's default) give float32 log-probs of the right length."""
    half = LlamaForCausalLM(policy.config).to(torch.bfloat16).eval()
    half.load_state_dict(policy.state_dict())
    with SandboxPool() as pool:
        (episode,) = run_episodes(half, tokenizer, easy_tasks(1), sandbox=pool,
                                  env_config=EnvConfig(max_turns=2),
                                  config=RolloutConfig(max_new_tokens=6))
    sampled = [lp for lp, m in zip(episode.logprobs, episode.env_mask, strict=True) if m]
    assert sampled
    assert all(lp <= 0.0 for lp in sampled)
