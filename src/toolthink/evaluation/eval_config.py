"""How an evaluation runs (`EvalConfig`), with the help of the ``toolthink eval`` flags that set it.

``toolthink eval`` builds its options from these fields: a flag's default is
the field's, its help the field's ``metadata["help"]`` (`ENV_HELP` for the
`toolthink.env.EnvConfig` fields it sets), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

import attrs

from toolthink.env import EnvConfig

__all__ = ["ENV_HELP", "MODES", "EvalConfig"]

MODES = ("chain-of-edits", "direct")


def _ks(_: Any, __: Any, value: tuple[int, ...]) -> None:
    if not value or any(type(k) is not int or k < 1 for k in value):
        msg = f"ks={value!r} must be positive integers, e.g. (1, 4)"
        raise ValueError(msg)


@attrs.frozen
class EvalConfig:
    """How an evaluation runs.

    Attributes:
        samples: Attempts per task and mode (n of pass@k; needs n >= max k).
        ks: The k of pass@k to report.
        modes: Which of `MODES` to run.
        temperature: Sampling temperature (0: greedy, sensible with samples=1).
        max_new_tokens: Tokens per Chain-of-Edits command.
        max_total_tokens: Tokens per Chain-of-Edits episode (prompt included).
        direct_max_new_tokens: Tokens of a direct answer.
        batch: Episodes (or answers) generated together.
        env: Episode settings (the paper's by default: 10 turns).
    """

    samples: int = attrs.field(default=1, metadata={"help": "attempts per task (n)"})
    ks: tuple[int, ...] = attrs.field(default=(1,), validator=_ks,
                                      metadata={"help": "pass@k budgets, e.g. 1,4"})
    modes: tuple[str, ...] = MODES
    temperature: float = 0.0
    max_new_tokens: int = attrs.field(default=96,
                                      metadata={"help": "tokens per Chain-of-Edits command"})
    max_total_tokens: int = 4096
    direct_max_new_tokens: int = attrs.field(default=512,
                                             metadata={"help": "tokens per direct answer"})
    batch: int = attrs.field(default=8, metadata={"help": "attempts generated together"})
    env: EnvConfig = attrs.field(factory=EnvConfig)

    def __attrs_post_init__(self) -> None:
        if self.samples < 1:
            msg = f"samples={self.samples} must be >= 1"
            raise ValueError(msg)
        if max(self.ks) > self.samples:
            msg = (f"pass@{max(self.ks)} needs at least {max(self.ks)} samples per task, got "
                   f"samples={self.samples}: raise --samples or lower --k")
            raise ValueError(msg)
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            msg = f"modes={self.modes!r}: choose from {list(MODES)}"
            raise ValueError(msg)


ENV_HELP = {"max_turns": "commands per episode"}
"""Help of the `toolthink.env.EnvConfig` fields ``toolthink eval`` sets, by field."""
