"""The key/value-reusing turn sampler: same episodes as GenerateSampler, fewer tokens read."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, MistralConfig, MistralForCausalLM

from tests.tiny_models import tiny_llama
from toolthink.env import EnvConfig
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import Episode, RolloutConfig, run_episodes
from toolthink.rollout.grammars import turn_grammar
from toolthink.rollout.kv_sampler import KVCacheError, KVCacheSampler, supports_kv_reuse
from toolthink.rollout.mask_replay import masked_log_probs, replayed_masks
from toolthink.rollout.samplers import GenerateSampler
from toolthink.tool import SandboxPool

from .test_episodes import easy_tasks

GREEDY = RolloutConfig(max_new_tokens=12, temperature=0.0)


@pytest.fixture(scope="module")
def policy(tokenizer) -> LlamaForCausalLM:
    return tiny_llama(len(tokenizer)).eval()


@pytest.fixture(scope="module")
def constraint(tokenizer, policy) -> GrammarConstraint:
    return GrammarConstraint.for_tokenizer(tokenizer, vocab_size=policy.config.vocab_size)


def play(policy, tokenizer, constraint, sampler, config, *, seed=1) -> list[Episode]:
    torch.manual_seed(seed)
    tasks = easy_tasks(3)  # prompts of different lengths
    with SandboxPool() as pool:
        return run_episodes(policy, tokenizer, [tasks[0], *tasks], sandbox=pool,
                            env_config=EnvConfig(max_turns=4), config=config,
                            constraint=constraint, sampler=sampler)


def test_greedy_episodes_are_token_for_token_those_of_generate(policy, tokenizer,
                                                               constraint) -> None:
    pad = tokenizer.pad_token_id
    reference = play(policy, tokenizer, constraint, GenerateSampler(policy, constraint, pad),
                     GREEDY)
    sampler = KVCacheSampler(policy, constraint, pad)
    reused = play(policy, tokenizer, constraint, sampler, GREEDY)
    assert sum(e.turns for e in reference) > len(reference)  # several turns were played
    for want, got in zip(reference, reused, strict=True):
        assert got.completion_ids == want.completion_ids
        assert got.commands == want.commands
        assert torch.allclose(torch.tensor(got.logprobs), torch.tensor(want.logprobs), atol=1e-5)
    assert sampler.stats.fresh_rows == len(reused)  # only the first turn read from scratch
    assert sampler.stats.reused > sampler.stats.prefilled


def test_sampled_log_probs_agree_with_the_mask_replay(policy, tokenizer, constraint) -> None:
    """RL rescoring (replayed masks on a full forward pass) gives the sampler's log q."""
    config = RolloutConfig(max_new_tokens=12, temperature=1.0)
    episodes = play(policy, tokenizer, constraint,
                    KVCacheSampler(policy, constraint, tokenizer.pad_token_id), config, seed=5)
    for episode in episodes:
        width = len(episode.completion_ids)
        masks = replayed_masks([episode], constraint, width)  # (1, C, W)
        ids = torch.tensor([episode.prompt_ids + episode.completion_ids])
        with torch.no_grad():
            logits = policy(input_ids=ids).logits[:, len(episode.prompt_ids) - 1:-1]  # (1, C, V)
        got = masked_log_probs(logits, masks, ids[:, len(episode.prompt_ids):])[0]
        sampled = torch.tensor(episode.env_mask, dtype=torch.bool)
        assert sampled.any()
        assert torch.allclose(got[sampled], torch.tensor(episode.logprobs)[sampled], atol=1e-4)


def test_a_continued_row_reads_only_its_new_tokens(policy, constraint, tokenizer) -> None:
    sampler = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    rows = [list(range(100, 140)), list(range(200, 225))]
    grammars = [turn_grammar(3)] * 2
    first = sampler.sample(rows, grammars, GREEDY)
    assert sampler.stats.prefilled == 39 + 24
    assert sampler.cached_tokens == sum(len(r) + len(s[0]) - 1 for r, s in zip(rows, first,
                                                                                strict=True))
    observation = [300, 301, 302, 303, 304]
    second = [rows[1] + first[1][0] + observation]  # row 0 finished: its cache is freed
    sampler.sample(second, grammars[:1], GREEDY)
    assert sampler.stats.prefilled == 39 + 24 + len(observation)  # last command token + 4
    assert sampler.stats.fresh_rows == 2
    assert sampler.cached_tokens < len(second[0]) + GREEDY.max_new_tokens


def test_a_row_that_does_not_continue_a_cache_is_read_from_scratch(policy, constraint,
                                                                   tokenizer) -> None:
    sampler = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    row = list(range(100, 130))
    (ids, _, _), = sampler.sample([row], [turn_grammar(3)], GREEDY)
    changed = [*row, ids[0] + 1, *ids[1:], 7, 8]  # a sampled id differs: not a prefix
    want = GenerateSampler(policy, constraint, tokenizer.pad_token_id).sample(
        [changed], [turn_grammar(3)], GREEDY)
    assert sampler.sample([changed], [turn_grammar(3)], GREEDY) == want
    assert sampler.stats.fresh_rows == 2


def test_rows_with_the_same_prompt_are_read_once(policy, constraint, tokenizer) -> None:
    sampler = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    row = list(range(100, 120))
    sampler.sample([row] * 4, [turn_grammar(3)] * 4, GREEDY)
    assert sampler.stats.prefilled == 19
    assert sampler.stats.shared == 3 * 19


def test_a_bfloat16_policy_samples_finite_log_probs(policy, constraint, tokenizer) -> None:
    half = LlamaForCausalLM(policy.config).to(torch.bfloat16).eval()
    half.load_state_dict(policy.state_dict())
    sampler = KVCacheSampler(half, constraint, tokenizer.pad_token_id)
    rows = [list(range(100, 140)), list(range(200, 225))]
    first = sampler.sample(rows, [turn_grammar(3)] * 2, GREEDY)
    again = sampler.sample([r + s[0] + [5, 6] for r, s in zip(rows, first, strict=True)],
                           [turn_grammar(3)] * 2, GREEDY)
    for ids, logq, _ in first + again:
        assert len(ids) == len(logq) >= 1
        assert torch.isfinite(torch.tensor(logq)).all()
        assert max(logq) <= 0.0


def test_under_bf16_autocast_it_samples_as_without_it(policy, constraint, tokenizer) -> None:
    # RL on a CPU with native bf16 samples inside the trainer's autocast, where a cached
    # key is float32 (RoPE) and a value bf16: one StaticCache holds one dtype.
    rows = [list(range(100, 140)), list(range(200, 225))]
    grammars = [turn_grammar(3)] * 2
    plain = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    expected = plain.sample(rows, grammars, GREEDY)
    sampler = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        first = sampler.sample(rows, grammars, GREEDY)
        again = sampler.sample([r + s[0] + [5, 6] for r, s in zip(rows, first, strict=True)],
                               grammars, GREEDY)
    assert [ids for ids, _, _ in first] == [ids for ids, _, _ in expected]
    assert all(len(ids) == len(logq) >= 1 for ids, logq, _ in again)


def test_an_empty_row_is_a_named_error(policy, constraint, tokenizer) -> None:
    sampler = KVCacheSampler(policy, constraint, tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="a row is empty"):
        sampler.sample([[]], [turn_grammar(3)], GREEDY)


class CacheDropper:
    """A model whose forward drops the cache it is given (as ``use_cache=False`` would)."""

    def __init__(self, model: LlamaForCausalLM) -> None:
        self.model = model

    def __call__(self, **kwargs: object) -> object:
        kwargs.pop("cache")
        return self.model(**kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)


def test_a_model_that_drops_its_cache_is_a_named_error(policy, constraint, tokenizer) -> None:
    sampler = KVCacheSampler(CacheDropper(policy), constraint, tokenizer.pad_token_id)
    with pytest.raises(KVCacheError, match="left 0 tokens in its cache, not 29"):
        sampler.sample([list(range(100, 130))], [turn_grammar(3)], GREEDY)


def test_a_sliding_window_model_is_sampled_without_reuse(policy, constraint, tokenizer) -> None:
    config = MistralConfig(vocab_size=policy.config.vocab_size, hidden_size=32,
                           intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=1, sliding_window=8)
    windowed = MistralForCausalLM(config).eval()
    assert supports_kv_reuse(policy)
    assert not supports_kv_reuse(windowed)
    sampler = KVCacheSampler(windowed, constraint, tokenizer.pad_token_id)
    (ids, logq, _), = sampler.sample([list(range(100, 130))], [turn_grammar(3)], GREEDY)
    assert len(ids) == len(logq) >= 1
    assert sampler.stats.prefilled == 0  # GenerateSampler did the work
