"""Constrained generation with the embedded model itself."""

from __future__ import annotations

from transformers import LogitsProcessorList

from toolthink.dsl import Rejected, execute, parse_command
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import turn_grammar_for

from .support import ListEditor


def test_embedded_model_writes_a_command_under_the_mask(model, tokenizer) -> None:
    editor = ListEditor(["def add(a, b):", "    return a - b"])
    listing = "\n".join(f"{n} {line}" for n, line in enumerate(editor.lines, start=1))
    messages = [
        {"role": "system", "content": "Edit code with one command per turn: ADDL n >>>text, "
         "REPL n >>>text, REPW n >>>old >>>new, DELL n, or EXIT."},
        {"role": "user", "content": f"Make add return the sum.\n{listing}"},
    ]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    constraint = GrammarConstraint.for_tokenizer(tokenizer, vocab_size=model.config.vocab_size)
    processor = constraint.processor(turn_grammar_for(editor, restrict_old_text=True))
    out = model.generate(
        **inputs, do_sample=False, max_new_tokens=24,
        logits_processor=LogitsProcessorList([processor]),
    )
    (row,) = processor.finish(out)
    generated = out[0, inputs["input_ids"].shape[1]:].tolist()
    text = tokenizer.decode(generated, skip_special_tokens=True)
    assert row.error is None
    if row.finished:  # a complete command the editor applies
        assert row.accepting
        assert not isinstance(execute(parse_command(text), editor).steps[0], Rejected)
    else:  # cut by max_new_tokens: still a prefix of a command
        assert text[:4] in {"ADDL", "REPL", "REPW", "DELL"}
