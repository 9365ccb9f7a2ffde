"""Token-in/token-out conversations: one token layout for SFT, RL and evaluation.

A Chain-of-Edits episode is a chat: a system message (the DSL), a user message
(the task and the first rendered state), then alternating assistant commands and
user messages (the rendered state after each command). Re-encoding the whole
text at every turn can tokenize a boundary differently from what the model saw
(re-tokenization drift), so toolthink never does: `ChatFormat` cuts the
tokenizer's chat template into its fixed pieces once, and every sequence is the
concatenation of separately encoded pieces::

    head(system, task)  +  command_1 + end  +  observation(state_1)  +  command_2 + end ...

``end`` is the template's end-of-turn token (the EOS the sampler stops at), so a
model trained on ``command + end`` learns to stop, and the RL rollout appends
exactly `observation` ids after the sampled ones. SFT trains on the command and
``end`` tokens only (`Encoded.labels`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

import attrs

from toolthink.errors import ToolthinkError

__all__ = ["ChatFormat", "ChatTemplateError", "Encoded", "Tokenizer"]

IGNORE_INDEX = -100
"""Label of tokens that carry no loss (PyTorch cross-entropy's ignore_index)."""

_SYSTEM, _USER1, _ASSISTANT, _USER2 = "\x00SYS\x00", "\x00U1\x00", "\x00A1\x00", "\x00U2\x00"


class ChatTemplateError(ToolthinkError, ValueError):
    """The tokenizer's chat template cannot be cut into fixed pieces."""


class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer that `ChatFormat` uses."""

    eos_token: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        """Render a conversation with the tokenizer's chat template."""
        ...

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]:
        """Encode ``text`` to token ids."""
        ...


@attrs.frozen
class Encoded:
    """A tokenized episode.

    Attributes:
        input_ids: Token ids, shape (T,).
        labels: Same shape; the token id where the model is trained (its
            commands and their end-of-turn token), `IGNORE_INDEX` elsewhere.
    """

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def completion_mask(self) -> tuple[int, ...]:
        """1 on trained tokens, 0 elsewhere (TRL's ``completion_mask``), shape (T,)."""
        return tuple(int(label != IGNORE_INDEX) for label in self.labels)


@attrs.frozen
class ChatFormat:
    """The fixed text pieces of a chat template, and encoders built on them.

    Build it with `ChatFormat.from_tokenizer`. The pieces are strings; ids are
    produced by the tokenizer's ``encode(..., add_special_tokens=False)``.

    Attributes:
        tokenizer: The tokenizer the pieces are encoded with.
        head_template: Text before the first command, with ``{system}`` and
            ``{user}`` holes (includes the assistant generation prompt).
        end: The end-of-turn text after each command (the EOS token).
        observation_template: Text after ``end`` up to the next command, with
            an ``{observation}`` hole.
    """

    tokenizer: Tokenizer = attrs.field(repr=False)
    head_template: str
    end: str
    observation_template: str

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> ChatFormat:
        """Cut ``tokenizer``'s chat template into pieces, with sentinel messages.

        Raises:
            ChatTemplateError: The template does not render messages verbatim in
                order, or the text after a command does not start with the EOS
                token (the sampler's stop token).
        """
        messages = [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": _USER1},
            {"role": "assistant", "content": _ASSISTANT},
            {"role": "user", "content": _USER2},
        ]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not isinstance(text, str) or any(
            text.count(s) != 1 for s in (_SYSTEM, _USER1, _ASSISTANT, _USER2)
        ):
            msg = ("the chat template does not render each message verbatim once: "
                   "use a tokenizer whose template keeps message contents as they are")
            raise ChatTemplateError(msg)
        head, rest = text.split(_ASSISTANT)
        between, tail = rest.split(_USER2)
        eos = str(tokenizer.eos_token or "")
        if not eos or not between.startswith(eos):
            msg = (f"the chat template ends an assistant turn with {between!r}, which does not "
                   f"start with the EOS token {eos!r}: set tokenizer.eos_token to the "
                   "template's end-of-turn token")
            raise ChatTemplateError(msg)
        esc = {"{": "{{", "}": "}}"}
        head = "".join(esc.get(ch, ch) for ch in head)
        observation = "".join(esc.get(ch, ch) for ch in between[len(eos):] + _USER2 + tail)
        return cls(
            tokenizer=tokenizer,
            head_template=head.replace(_SYSTEM, "{system}").replace(_USER1, "{user}"),
            end=eos,
            observation_template=observation.replace(_USER2, "{observation}"),
        )

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def head_ids(self, system: str, user: str) -> list[int]:
        """Ids of the prompt before the first command (ends with the generation prompt)."""
        return self._encode(self.head_template.format(system=system, user=user))

    def command_ids(self, command: str) -> list[int]:
        """Ids of one command followed by the end-of-turn token."""
        return self._encode(command) + self._encode(self.end)

    def observation_ids(self, observation: str) -> list[int]:
        """Ids appended after a command's end token.

        They hold the user turn with ``observation``, then the next generation prompt.
        """
        return self._encode(self.observation_template.format(observation=observation))

    def encode_episode(
        self, system: str, user: str, commands: Sequence[str], observations: Sequence[str],
        untrained: Collection[int] = (),
    ) -> Encoded:
        """Encode a whole episode for SFT.

        Args:
            system: The system message.
            user: The first user message (task and initial state).
            commands: The assistant's commands, one per turn (without ``\\n``).
            observations: The observation after each command but the last
                (``len(commands) - 1`` of them, or ``len(commands)``: an
                observation after the last command is not encoded).
            untrained: 0-based indexes of commands that get no label (a
                demonstration's inserted mistakes, `toolthink.data.detours`).

        Returns:
            Ids and labels; only command and end-of-turn tokens are labelled,
            those of ``untrained`` commands excepted.

        Raises:
            ValueError: Fewer observations than commands minus one, or an
                ``untrained`` index that is not a command's.
        """
        if len(observations) < len(commands) - 1:
            msg = (f"{len(commands)} commands need at least {len(commands) - 1} observations, "
                   f"got {len(observations)}")
            raise ValueError(msg)
        stray = sorted(i for i in untrained if not 0 <= i < len(commands))
        if stray:
            msg = (f"untrained={sorted(untrained)} names commands {stray} of an episode of "
                   f"{len(commands)}: use 0-based indexes of its commands")
            raise ValueError(msg)
        ids = self.head_ids(system, user)
        labels = [IGNORE_INDEX] * len(ids)
        for turn, command in enumerate(commands):
            piece = self.command_ids(command)
            ids += piece
            labels += [IGNORE_INDEX] * len(piece) if turn in untrained else piece
            if turn < len(commands) - 1:
                piece = self.observation_ids(observations[turn])
                ids += piece
                labels += [IGNORE_INDEX] * len(piece)
        return Encoded(tuple(ids), tuple(labels))
