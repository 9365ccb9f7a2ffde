"""The ``toolthink-train`` command line: ``sft`` and ``rl``.

Each subcommand lives in its own module with a ``main(argv) -> int`` (TRL's
script convention: ``main`` plus ``make_parser``), imported only when chosen, so
``toolthink-train --help`` stays fast:

- ``toolthink-train sft --config configs/sft_cpu.yaml [--flag value ...]``
  (`toolthink.training.sft_cli`)
- ``toolthink-train rl --config configs/rl_cpu.yaml [--flag value ...]``
  (`toolthink.training.rl_cli`)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from toolthink.commands import dispatch, usage

__all__ = ["CHECKPOINTS_REMAIN", "COMMANDS", "main"]

COMMANDS = {
    "sft": ("toolthink.training.sft_cli", "supervised fine-tuning on demonstrations"),
    "rl": ("toolthink.training.rl_cli", "RL with verifiable rewards (multi-turn GRPO)"),
}

CHECKPOINTS_REMAIN = ("interrupted; checkpoints already saved in output_dir remain (continue "
                      "with --resume_from_checkpoint true)")
"""The line printed after Ctrl-C during training (exit status 130)."""

USAGE = usage(
    "toolthink-train", COMMANDS,
    "Each takes [--config FILE.yaml] [--flag value ...]; "
    "run `toolthink-train sft --help` for its options.",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    return dispatch("toolthink-train", COMMANDS, USAGE, argv,
                    dict.fromkeys(COMMANDS, CHECKPOINTS_REMAIN))


if __name__ == "__main__":
    sys.exit(main())
