"""`GenerateSampler`: constrained and free rows in one call, in row order."""

from __future__ import annotations

from toolthink.rollout.grammars import turn_grammar
from toolthink.rollout.samplers import GenerateSampler, RolloutConfig


def test_free_and_constrained_rows_keep_their_order(tiny_model, tokenizer) -> None:
    sampler = GenerateSampler.for_model(tiny_model, tokenizer)
    grammar = turn_grammar(3)
    rows = [tokenizer.encode("Fix the code.", add_special_tokens=False),
            tokenizer.encode("Write any text", add_special_tokens=False)]
    config = RolloutConfig(max_new_tokens=6, temperature=0.0)
    mixed = sampler.sample(rows, [grammar, None], config)
    alone = [sampler.sample([rows[0]], [grammar], config)[0],
             sampler.sample([rows[1]], [None], config)[0]]
    assert mixed == alone  # greedy: each row as if sampled alone
    ids, logq, ended = mixed[0]
    matcher = sampler.constraint.matcher(grammar)
    assert all(matcher.consume_token(t) for t in (ids[:-1] if ended else ids))  # in the grammar
    assert len(logq) == len(ids)
