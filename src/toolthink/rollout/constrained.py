"""Grammar-constrained decoding: llguidance's token table and compiled grammars per tokenizer.

Each generated token is masked so that a row's text stays a prefix of a string
of its grammar (`toolthink.rollout.grammars`); a row may end (EOS) only where
its grammar accepts. Sources: llguidance's Python API (``LLMatcher``,
``LLTokenizer``, ``llguidance.hf.from_tokenizer``; https://github.com/guidance-ai/llguidance),
whose mask layout (`toolthink.rollout.bitmasks`) this module keeps;
``transformers.LogitsProcessor`` for the call protocol.

Costs: building the llguidance tokenizer takes seconds, so `GrammarConstraint.for_tokenizer`
caches it per tokenizer; compiling a grammar takes milliseconds, so each
`GrammarConstraint` keeps compiled matchers by grammar text and hands out copies
(microseconds). A `toolthink.rollout.logits_processor.GrammarLogitsProcessor`
(from `GrammarConstraint.processor`) holds per-row state for one ``generate``
call; build a new one per call.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import llguidance
import llguidance.hf
import torch
from transformers import PreTrainedTokenizerFast

from toolthink.errors import ToolthinkError
from toolthink.rollout.bitmasks import BITS, bitmask_of
from toolthink.rollout.grammars import EXIT_CAPTURE

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from toolthink.rollout.logits_processor import GrammarLogitsProcessor

__all__ = [
    "ConstraintError",
    "GrammarConstraint",
    "GrammarError",
    "exit_accepted",
]

logger = logging.getLogger(__name__)


class GrammarError(ToolthinkError, ValueError):
    """llguidance rejected a grammar text, or cannot use the tokenizer as given."""


class ConstraintError(ToolthinkError, RuntimeError):
    """The constrained decoder was used in a way it cannot follow (e.g. reused)."""


def first_line(text: str) -> str:
    """The first line of an llguidance error (it appends its state and the whole grammar)."""
    return text.split("\n<state>", 1)[0].splitlines()[0] if text else text


def exit_accepted(matcher: llguidance.LLMatcher) -> bool:
    """Whether a matcher has accepted an ``EXIT`` command: the episode's end.

    Read from the grammar's ``exit`` capture (`toolthink.rollout.grammars`),
    not from ``stop_reason()``: llguidance reports "EndOfSentence" when EOS
    comes in the same ``consume_tokens`` call as EXIT and a line break, but "NoExtension"
    when the tokens come one by one, while the capture is the same either way.

    Args:
        matcher: A matcher built from `toolthink.rollout.grammars` text.
    """
    return matcher.is_accepting() and matcher.get_capture(EXIT_CAPTURE) is not None


class GrammarConstraint:
    """llguidance set-up for one tokenizer: its token table and compiled grammars.

    Args:
        tokenizer: A fast Hugging Face tokenizer (llguidance reads its Rust
            backend; slow tokenizers are not supported).
        vocab_size: Number of logits the model produces (``model.config.vocab_size``);
            tokens past the tokenizer's table are never allowed. Default: the
            tokenizer's size.
        eos_token_ids: Tokens that end a turn where the grammar accepts; give
            ``generate`` the same ones. Default: ``tokenizer.eos_token_id``.
        cache_size: Compiled grammars kept (least recently used dropped).

    Raises:
        GrammarError: the tokenizer is not a fast tokenizer or has no EOS.
    """

    _shared: ClassVar[weakref.WeakKeyDictionary[
        PreTrainedTokenizerBase, dict[tuple[int | None, tuple[int, ...] | None], GrammarConstraint]
    ]] = weakref.WeakKeyDictionary()

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        vocab_size: int | None = None,
        eos_token_ids: Sequence[int] | None = None,
        cache_size: int = 256,
    ) -> None:
        if eos_token_ids is None:
            eos = tokenizer.eos_token_id
            if not isinstance(eos, int):
                msg = (
                    f"tokenizer.eos_token_id is {eos!r}: pass eos_token_ids=[...] "
                    "(the tokens that end a model turn)"
                )
                raise GrammarError(msg)
            eos_token_ids = (eos,)
        self.eos_token_ids: tuple[int, ...] = tuple(int(t) for t in eos_token_ids)
        if not self.eos_token_ids:
            msg = "eos_token_ids is empty: pass the tokens that end a model turn"
            raise GrammarError(msg)
        if not isinstance(tokenizer, PreTrainedTokenizerFast):
            msg = (
                f"{type(tokenizer).__name__} is not a fast tokenizer, which llguidance "
                "needs: load it with AutoTokenizer.from_pretrained(..., use_fast=True)"
            )
            raise GrammarError(msg)
        try:
            self.ll_tokenizer = llguidance.hf.from_tokenizer(
                tokenizer, n_vocab=vocab_size, eos_token=list(self.eos_token_ids)
            )
        except ValueError as e:
            msg = (
                f"llguidance cannot use the tokenizer with vocab_size={vocab_size} and "
                f"eos_token_ids={list(self.eos_token_ids)}: {e}; pass the model's "
                "config.vocab_size and token ids inside it"
            )
            raise GrammarError(msg) from e
        self.vocab_size: int = self.ll_tokenizer.vocab_size
        """Tokens covered by masks (V)."""
        self.words: int = (self.vocab_size + BITS - 1) // BITS
        """int32 words per mask row (W)."""
        self._cache_size = cache_size
        self._compiled: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        for token in self.eos_token_ids:
            if not 0 <= token < self.vocab_size:
                msg = f"EOS token {token} is outside the vocabulary (0..{self.vocab_size - 1})"
                raise GrammarError(msg)
        self.eos_only_mask: torch.Tensor = bitmask_of(self.eos_token_ids, self.vocab_size)
        """``(W,)`` int32 mask allowing only the EOS tokens (finished rows)."""

    @classmethod
    def for_tokenizer(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        *,
        vocab_size: int | None = None,
        eos_token_ids: Sequence[int] | None = None,
    ) -> GrammarConstraint:
        """Return the constraint for ``tokenizer``, built once per tokenizer object.

        Building costs about 0.3 s at a 49k vocabulary and 1.5 s at 152k
        (llguidance token table); later calls with the same tokenizer object and
        arguments return the same instance. Arguments as for the class.
        """
        per_tokenizer = cls._shared.setdefault(tokenizer, {})
        key = (vocab_size, None if eos_token_ids is None else tuple(eos_token_ids))
        if key not in per_tokenizer:
            per_tokenizer[key] = cls(tokenizer, vocab_size=vocab_size, eos_token_ids=eos_token_ids)
        return per_tokenizer[key]

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        """Return a fresh matcher for ``grammar`` at its start state.

        Args:
            grammar: llguidance Lark text, e.g. from `toolthink.rollout.grammars`.

        Returns:
            An ``llguidance.LLMatcher`` (a copy of a cached compiled one).

        Raises:
            GrammarError: llguidance rejects the grammar.
        """
        compiled = self._compiled.get(grammar)
        if compiled is None:
            compiled = llguidance.LLMatcher(
                self.ll_tokenizer, llguidance.LLMatcher.grammar_from_lark(grammar), log_level=0
            )
            if compiled.is_error():
                msg = (
                    f"llguidance rejects the grammar: {first_line(compiled.get_error())}; "
                    "build grammars with toolthink.rollout.grammars"
                )
                raise GrammarError(msg)
            for warning in compiled.get_grammar_warnings():
                logger.warning("llguidance grammar warning: %s", warning)
            self._compiled[grammar] = compiled
            if len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(grammar)
        return compiled.deep_copy()

    def processor(
        self, grammars: str | Sequence[str], *, record_masks: bool = False
    ) -> GrammarLogitsProcessor:
        """Return a new processor for one ``generate`` call.

        Args:
            grammars: One grammar for every row, or one per row (B of them, in
                the order of the batch; ``num_return_sequences`` repeats each
                prompt's rows consecutively).
            record_masks: Keep every step's mask (``recorded_masks``), e.g. to
                check a replay in the training loss.

        Returns:
            A `GrammarLogitsProcessor`; pass it in
            ``generate(..., logits_processor=LogitsProcessorList([p]))``.
        """
        from toolthink.rollout.logits_processor import (  # noqa: PLC0415 (it imports this module)
            GrammarLogitsProcessor,
        )

        return GrammarLogitsProcessor(self, grammars, record_masks=record_masks)

    def accepts(self, grammar: str, token_ids: Sequence[int]) -> bool:
        """Whether consuming ``token_ids`` one by one ends in an accepting state.

        Args:
            grammar: llguidance Lark text.
            token_ids: The tokens, without EOS.

        Returns:
            True when every token is allowed and the text is complete.
        """
        matcher = self.matcher(grammar)
        return all(matcher.consume_token(t) for t in token_ids) and matcher.is_accepting()
