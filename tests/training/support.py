"""Helpers and Hypothesis strategies shared by the training tests."""

from __future__ import annotations

UNENCODABLE = "\x04\x06\x13\x14\x16\x1d"
"""Characters the embedded tokenizer has no bytes for (nor for U+40000..U+BFFFF):
``encode`` drops them silently (see test_embedded_model.py)."""
