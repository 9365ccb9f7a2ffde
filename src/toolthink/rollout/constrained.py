"""Grammar-constrained decoding: a ``transformers`` LogitsProcessor run by llguidance.

Each generated token is masked so that a row's text stays a prefix of a string
of its grammar (`toolthink.rollout.grammars`); a row may end (EOS) only where
its grammar accepts. Sources: llguidance's Python API (``LLMatcher``,
``LLTokenizer``, ``llguidance.hf.from_tokenizer``; https://github.com/guidance-ai/llguidance),
whose mask layout (`toolthink.rollout.bitmasks`) this module keeps;
``transformers.LogitsProcessor`` for the call protocol.

Costs: building the llguidance tokenizer takes seconds, so `GrammarConstraint.for_tokenizer`
caches it per tokenizer; compiling a grammar takes milliseconds, so each
`GrammarConstraint` keeps compiled matchers by grammar text and hands out copies
(microseconds). A `GrammarLogitsProcessor` holds per-row state for one
``generate`` call; build a new one per call.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

import attrs
import llguidance
import llguidance.hf
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerFast

from toolthink.errors import ToolthinkError
from toolthink.rollout.bitmasks import BITS, apply_bitmask, bitmask_of
from toolthink.rollout.grammars import EXIT_CAPTURE

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "ConstraintError",
    "GrammarConstraint",
    "GrammarError",
    "GrammarLogitsProcessor",
    "RowState",
    "exit_accepted",
]

logger = logging.getLogger(__name__)



class GrammarError(ToolthinkError, ValueError):
    """llguidance rejected a grammar text, or cannot use the tokenizer as given."""


class ConstraintError(ToolthinkError, RuntimeError):
    """The constrained decoder was used in a way it cannot follow (e.g. reused)."""


def _first_line(text: str) -> str:
    # llguidance appends its state and the whole grammar to error messages
    return text.split("\n<state>", 1)[0].splitlines()[0] if text else text


@attrs.frozen
class RowState:
    """Where one row of a constrained generation stands.

    Attributes:
        accepting: The row's text is a complete string of its grammar.
        finished: The row emitted EOS, or was forced to after an error.
        exited: The grammar accepted an ``EXIT`` command (read from the
            matcher's ``exit`` capture, whatever the token chunking).
        error: llguidance's message when a token was refused (a sampler that
            ignored the mask, or a processor that removed every allowed token),
            else None.
        n_tokens: Tokens consumed, EOS included (tokens).
    """

    accepting: bool
    finished: bool
    exited: bool
    error: str | None
    n_tokens: int


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
                    f"llguidance rejects the grammar: {_first_line(compiled.get_error())}; "
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


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks ``(B, V)`` scores so that each row continues a string of its grammar.

    Built by `GrammarConstraint.processor`, for one ``generate`` call: it binds
    to the batch and prompt length of its first call, and each later call must
    extend that batch by one token per row (greedy or sampling; not beam search,
    which reorders rows). Rows that emitted EOS are forced to EOS (``generate``
    pads them). Read each row's outcome from `rows` afterwards.

    Args:
        constraint: The tokenizer's `GrammarConstraint`.
        grammars: One grammar for all rows, or one per row.
        record_masks: Keep each step's ``(B, W)`` bitmask.
    """

    def __init__(
        self,
        constraint: GrammarConstraint,
        grammars: str | Sequence[str],
        *,
        record_masks: bool = False,
    ) -> None:
        self.constraint = constraint
        self._grammars: str | tuple[str, ...] = (
            grammars if isinstance(grammars, str) else tuple(grammars)
        )
        self._record = record_masks
        self._recorded: list[torch.Tensor] = []
        self._matchers: list[llguidance.LLMatcher] = []
        self._finished: list[bool] = []
        self._errors: list[str | None] = []
        self._counts: list[int] = []
        self._previous: torch.Tensor | None = None  # input_ids of the last call
        self._bitmask = torch.empty(0, dtype=torch.int32)

    def _bind(self, batch: int) -> None:
        if isinstance(self._grammars, str):
            grammars = (self._grammars,) * batch
        else:
            grammars = self._grammars
            if len(grammars) != batch:
                msg = (
                    f"got {len(grammars)} grammars for a batch of {batch} rows: pass one "
                    "grammar per row (num_return_sequences multiplies the rows), or one for all"
                )
                raise ConstraintError(msg)
        self._matchers = [self.constraint.matcher(g) for g in grammars]
        self._finished = [False] * batch
        self._errors = [None] * batch
        self._counts = [0] * batch
        self._bitmask = torch.zeros((batch, self.constraint.words), dtype=torch.int32)

    def _advance(self, input_ids: torch.Tensor) -> None:
        previous = self._previous
        assert previous is not None
        batch, length = previous.shape
        input_ids = input_ids.cpu()
        if input_ids.shape != (batch, length + 1) or not torch.equal(input_ids[:, :-1], previous):
            msg = (
                f"input_ids {tuple(input_ids.shape)} do not extend the previous call's "
                f"{(batch, length)} by one token per row: build a new processor for each "
                "generate() call, and use greedy or sampling decoding (not beam search "
                "or assisted decoding, which reorder or rewrite rows)"
            )
            raise ConstraintError(msg)
        eos = self.constraint.eos_token_ids
        for row, token in enumerate(input_ids[:, -1].tolist()):
            if self._finished[row]:
                continue  # generate pads finished rows
            matcher = self._matchers[row]
            self._counts[row] += 1
            if not matcher.consume_token(token):
                self._errors[row] = _first_line(matcher.get_error()) or f"token {token} refused"
                logger.warning("constrained row %d refused token %d: %s; forcing EOS",
                               row, token, self._errors[row])
                self._finished[row] = True
            elif token in eos:
                self._finished[row] = True

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask the next-token scores.

        Args:
            input_ids: ``(B, T)`` token ids so far, prompt included.
            scores: ``(B, V)`` next-token logits.

        Returns:
            ``(B, V)`` scores with forbidden tokens at ``-inf``.

        Raises:
            ConstraintError: the call does not continue the previous one.
            MaskShapeError: ``V`` exceeds the constraint's vocabulary
                (build it with ``vocab_size=model.config.vocab_size``).
        """
        if self._previous is None:
            self._bind(input_ids.shape[0])
        else:
            self._advance(input_ids)
        self._previous = input_ids.detach().cpu().clone()
        bitmask = self._bitmask
        row_bytes = self.constraint.words * bitmask.element_size()
        for row, matcher in enumerate(self._matchers):
            if self._finished[row]:
                bitmask[row] = self.constraint.eos_only_mask
            else:
                matcher.unsafe_compute_mask_ptr(bitmask.data_ptr() + row * row_bytes, row_bytes)
        empty = (bitmask == 0).all(dim=1)
        if bool(empty.any()):  # no token allowed: a bug; end the row instead of sampling NaN
            for row in empty.nonzero().flatten().tolist():
                self._errors[row] = self._errors[row] or "the grammar allowed no token"
                logger.error("constrained row %d: the grammar allowed no token; forcing EOS", row)
                self._finished[row] = True
                bitmask[row] = self.constraint.eos_only_mask
        if self._record:
            self._recorded.append(bitmask.clone())
        return cast("torch.FloatTensor", apply_bitmask(scores, bitmask))

    def finish(self, sequences: torch.Tensor) -> tuple[RowState, ...]:
        """Consume the token sampled after the last call, and return each row's state.

        ``generate`` samples one token after its last call to the processor;
        pass its output here so that the matchers see it too (EOS, usually).

        Args:
            sequences: ``(B, T)`` ids returned by ``generate`` (prompt included),
                i.e. ``output.sequences`` with ``return_dict_in_generate=True``.

        Returns:
            `rows`, complete.

        Raises:
            ConstraintError: ``sequences`` do not extend what the processor saw.
        """
        previous = self._previous
        if previous is None:
            msg = "the processor never ran: pass it to generate(logits_processor=...) first"
            raise ConstraintError(msg)
        if sequences.shape != previous.shape or not torch.equal(sequences.cpu(), previous):
            self._advance(sequences)
            self._previous = sequences.detach().cpu().clone()
        return self.rows

    @property
    def rows(self) -> tuple[RowState, ...]:
        """Each row's state, in batch order (empty before the first call).

        Until `finish` is called, the last generated token is not included.
        """
        return tuple(
            RowState(
                accepting=matcher.is_accepting() and not matcher.is_error(),
                finished=finished,
                exited=exit_accepted(matcher),
                error=error,
                n_tokens=count,
            )
            for matcher, finished, error, count in zip(
                self._matchers, self._finished, self._errors, self._counts, strict=True
            )
        )

    def recorded_masks(self) -> torch.Tensor:
        """Return the masks used at each step: ``(B, steps, W)`` int32.

        Step ``t``'s mask constrained the ``t``-th generated token. Finished rows
        show the EOS-only mask.

        Raises:
            ConstraintError: the processor was built without ``record_masks=True``.
        """
        if not self._record:
            msg = "masks were not recorded: build the processor with record_masks=True"
            raise ConstraintError(msg)
        if not self._recorded:
            return torch.zeros((0, 0, self.constraint.words), dtype=torch.int32)
        return torch.stack(self._recorded, dim=1)
