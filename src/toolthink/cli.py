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

import sys
from collections.abc import Sequence

from toolthink.commands import dispatch, usage

__all__ = ["COMMANDS", "main"]

COMMANDS = {
    "demo": ("toolthink.pipeline", "the main job on the embedded defaults (--quick: fewest steps)"),
    "data": ("toolthink.data.cli", "build synthetic bugs and verified demonstrations"),
    "eval": ("toolthink.evaluation.cli", "evaluate a model: pass@k, Chain-of-Edits vs direct"),
    "show": ("toolthink.evaluation.show", "replay saved episodes turn by turn"),
    "repair": ("toolthink.evaluation.repair", "repair your own file with a trained model"),
}

USAGE = usage("toolthink", COMMANDS, "Run `toolthink <command> --help` for a command's options.")


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    return dispatch("toolthink", COMMANDS, USAGE, argv)


if __name__ == "__main__":
    sys.exit(main())
