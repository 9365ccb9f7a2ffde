"""The tiny random model the training and evaluation tests share.

A 1-layer, 32-wide Llama over a real vocabulary: it writes noise, so tests
check plumbing (masks, shapes, records, exit statuses), never repairs.
"""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama(vocab_size: int) -> LlamaForCausalLM:
    """A random 1-layer Llama over ``vocab_size`` tokens, seeded (0), in train mode.

    Args:
        vocab_size: Rows of the embedding and the LM head (the tokenizer's length).
    """
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    return LlamaForCausalLM(config)
