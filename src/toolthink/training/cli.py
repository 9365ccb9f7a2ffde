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

import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

COMMANDS = {
    "sft": ("toolthink.training.sft_cli", "supervised fine-tuning on demonstrations"),
    "rl": ("toolthink.training.rl_cli", "RL with verifiable rewards (multi-turn GRPO)"),
}

USAGE = "usage: toolthink-train {sft,rl} [--config FILE.yaml] [--flag value ...]\n\n" + "\n".join(
    f"  {name:<4} {help_text}" for name, (_, help_text) in COMMANDS.items()
) + "\n\nRun `toolthink-train sft --help` for a subcommand's options.\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"toolthink-train: unknown command {name!r}\n\n{USAGE}")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    status: int = module.main(rest)
    return status


if __name__ == "__main__":
    sys.exit(main())
