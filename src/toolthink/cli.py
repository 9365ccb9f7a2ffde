"""The ``toolthink`` command line: the main job, data, evaluation and repair.

Each subcommand lives in its own module with ``main(argv) -> int``, imported only
when chosen (so ``toolthink --help`` does not import torch):

- ``toolthink demo [--quick]``: the main job on the embedded defaults
  (`toolthink.pipeline`).
- ``toolthink data demos ...``: build verified demonstrations (`toolthink.data.cli`).
- ``toolthink eval ...``, ``toolthink show EPISODES.jsonl``, ``toolthink repair FILE.py``
  (`toolthink.evaluation.cli`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

COMMANDS = {
    "demo": ("toolthink.pipeline", "the main job on the embedded defaults (--quick: fewest steps)"),
    "data": ("toolthink.data.cli", "build synthetic bugs and verified demonstrations"),
    "eval": ("toolthink.evaluation.cli", "evaluate a model: pass@k, Chain-of-Edits vs direct"),
    "show": ("toolthink.evaluation.show", "replay saved episodes turn by turn"),
    "repair": ("toolthink.evaluation.repair", "repair your own file with a trained model"),
}

USAGE = "usage: toolthink {" + ",".join(COMMANDS) + "} ...\n\n" + "\n".join(
    f"  {name:<7} {help_text}" for name, (_, help_text) in COMMANDS.items()
) + "\n\nRun `toolthink <command> --help` for a command's options.\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"toolthink: unknown command {name!r}\n\n{USAGE}")
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("toolthink"):
            raise
        sys.stderr.write(f"toolthink: {name!r} is not available in this version yet\n")
        return 2
    status: int = module.main(rest)
    return status


if __name__ == "__main__":
    sys.exit(main())
