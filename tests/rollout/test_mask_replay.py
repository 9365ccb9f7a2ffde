"""Replaying the sampler's masks for the training loss."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessorList

from toolthink.rollout.bitmasks import bitmask_of
from toolthink.rollout.constrained import ConstraintError, GrammarConstraint
from toolthink.rollout.grammars import turn_grammar
from toolthink.rollout.mask_replay import masked_log_probs, replay_masks

from .test_constrained import EOS, PAD


@pytest.fixture(scope="module")
def sampled(tiny_model, tokenizer, constraint: GrammarConstraint):
    """A constrained sampling run: grammars, completions, recorded masks, raw and masked scores."""
    grammars = [turn_grammar(3), turn_grammar(lines=["a = b", ""]), turn_grammar(0), turn_grammar()]
    processor = constraint.processor(grammars, record_masks=True)
    tokenizer.padding_side = "left"
    prompts = tokenizer(["Fix it.", "Repair the file, please."], return_tensors="pt", padding=True)
    torch.manual_seed(3)
    out = tiny_model.generate(
        **prompts, do_sample=True, top_k=0, top_p=1.0, temperature=1.0, max_new_tokens=12,
        num_return_sequences=2, eos_token_id=EOS, pad_token_id=PAD,
        logits_processor=LogitsProcessorList([processor]),
        return_dict_in_generate=True, output_scores=True, output_logits=True,
    )
    completions = out.sequences[:, prompts["input_ids"].shape[1]:]
    return grammars, completions, processor.recorded_masks(), out


def test_replay_reproduces_the_sampler_masks(sampled, constraint: GrammarConstraint) -> None:
    grammars, completions, recorded, _ = sampled
    assert (completions == EOS).any()  # some rows ended and were padded
    assert torch.equal(replay_masks(constraint, grammars, completions), recorded)


def test_masked_log_probs_are_the_sampler_log_probs(sampled, constraint: GrammarConstraint) -> None:
    grammars, completions, _, out = sampled
    logits = torch.stack(out.logits, dim=1)  # (B, T, V) raw model logits
    scores = torch.stack(out.scores, dim=1)  # (B, T, V) what the sampler drew from
    masks = replay_masks(constraint, grammars, completions)
    got = masked_log_probs(logits, masks, completions)
    sampler = torch.log_softmax(scores, dim=-1).gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    live = torch.isfinite(sampler)  # padding after EOS is PAD, which the EOS-only mask forbids
    assert (~live).any()
    assert torch.allclose(got[live], sampler[live], atol=1e-5)
    assert torch.isfinite(got).all()
    unmasked = torch.log_softmax(logits, dim=-1).gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    assert torch.equal(got[~live], unmasked[~live])
    assert (got[live] >= unmasked[live] - 1e-6).all()  # renormalising over fewer tokens


def test_masked_log_probs_on_a_small_vocabulary() -> None:
    logits = torch.log(torch.tensor([[[0.1, 0.2, 0.3, 0.4]]]))
    masks = bitmask_of([1, 3], 4).view(1, 1, 1)
    (value,) = masked_log_probs(logits, masks, torch.tensor([[3]])).flatten().tolist()
    assert value == pytest.approx(torch.log(torch.tensor(0.4 / 0.6)).item())


def test_replay_needs_one_grammar_per_row(constraint: GrammarConstraint) -> None:
    with pytest.raises(ConstraintError, match="got 2 grammars for 3 completions"):
        replay_masks(constraint, [turn_grammar()] * 2, torch.zeros(3, 4, dtype=torch.long))
