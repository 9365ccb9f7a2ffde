"""Helpers and Hypothesis strategies shared by the training tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from transformers import PreTrainedTokenizerBase

from toolthink.dsl import SEPARATOR, lark_grammar


def encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of ``text`` as training data holds them (special-token text stays text)."""
    ids: list[int] = tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids
    return ids


def allowed(mask: bytes, token: int) -> bool:
    """Whether ``compute_bitmask()`` output allows ``token``."""
    return bool((mask[token // 8] >> (token % 8)) & 1)


@attrs.define
class ListEditor:
    """The smallest `toolthink.dsl.Editor`: a list of lines."""

    lines: list[str]
    exited: bool = False

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def line(self, number: int) -> str:
        return self.lines[number - 1]

    def splice(self, start: int, stop: int, lines: Sequence[str], *, command: object) -> None:
        self.lines[start:stop] = lines

    def exit(self, *, command: object) -> None:
        self.exited = True


UNENCODABLE = "\x04\x06\x13\x14\x16\x1d"
"""Characters the embedded tokenizer has no bytes for (nor for U+40000..U+BFFFF):
``encode`` drops them silently (see tests/models/test_embedded.py)."""

_encodable = st.characters(codec="utf-8", exclude_characters=UNENCODABLE, max_codepoint=0x3FFFF)

program_text = from_lark(lark_grammar(), start="start", alphabet=_encodable)
"""Programs drawn from the grammar itself, in characters the tokenizer can encode."""

turn_text = from_lark(lark_grammar(), start="turn", alphabet=_encodable)
"""Single commands drawn from the grammar itself."""

# Text that stresses the separator rule and the tokenizer's merges.
_pieces = st.sampled_from(
    [" ", "  ", "\t", ">", ">>", ">>>", " >>>", " >>", "#", "'", '"', "é", "→", "{", "}",
     "\\", "x", "ab", "1", "0", "return", "EXIT", "DELL 1"]
)
line_text = st.lists(_pieces, max_size=6).map("".join)
"""A line of a file: never holds a line break."""

old_text = line_text.filter(lambda s: s != "" and SEPARATOR not in s)

files = st.lists(line_text, max_size=12)
"""A file as its lines."""


class DeviceProbe:
    """A model that reports the ``meta`` device and checks that its calls get their inputs there.

    Without a GPU, this is how a test tells "inputs moved to ``model.device``"
    from "inputs left on the CPU". Meta tensors hold no values, so the wrapped
    model then generates from zeros of the same shapes (its output is noise
    anyway); everything else is the wrapped model's.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0  # generate calls
        self.forwards = 0  # forward calls (a cache-reusing sampler's prefill)

    @property
    def device(self) -> torch.device:
        return torch.device("meta")

    def generate(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 **kwargs: Any) -> Any:
        assert input_ids.device.type == "meta", f"input_ids on {input_ids.device}"
        assert attention_mask.device.type == "meta", f"attention_mask on {attention_mask.device}"
        self.calls += 1
        return self.model.generate(input_ids=torch.zeros(input_ids.shape, dtype=torch.long),
                                   attention_mask=torch.ones(attention_mask.shape,
                                                             dtype=torch.long),
                                   **kwargs)

    def __call__(self, *, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        assert input_ids.device.type == "meta", f"input_ids on {input_ids.device}"
        self.forwards += 1
        return self.model(input_ids=torch.zeros(input_ids.shape, dtype=torch.long), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
