"""The constrained decoder inside ``generate``: a LogitsProcessor that masks each row's tokens.

A `GrammarLogitsProcessor` serves one ``generate`` call: each step it
advances every row's llguidance matcher by the token just sampled, fills the
rows' bitmasks (`toolthink.rollout.bitmasks`) and sets forbidden scores to
``-inf``; `GrammarLogitsProcessor.finish` returns each row's `RowState`.
Build it with `toolthink.rollout.constrained.GrammarConstraint.processor`,
which holds the tokenizer's token table and compiled grammars. Source:
``transformers.LogitsProcessor`` for the call protocol; llguidance's
``LLMatcher.unsafe_compute_mask_ptr`` for the masks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import attrs
import llguidance
import torch
from transformers import LogitsProcessor

from toolthink.rollout.bitmasks import apply_bitmask
from toolthink.rollout.constrained import ConstraintError, exit_accepted, first_line

if TYPE_CHECKING:
    from toolthink.rollout.constrained import GrammarConstraint

__all__ = ["GrammarLogitsProcessor", "RowState"]

logger = logging.getLogger(__name__)


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
                self._errors[row] = first_line(matcher.get_error()) or f"token {token} refused"
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
