"""The ``toolthink`` command line: the main job, data, evaluation and repair.

Each subcommand lives in its own module with ``main(argv) -> int``, imported only
when chosen (so ``toolthink --help`` does not import torch):

- ``toolthink demo [--quick]``: the main job on the embedded defaults
  (`toolthink.pipeline`).
- ``toolthink study [--budget quick]``: the four models of the paper's comparison,
  trained and evaluated, resumable (`toolthink.study`).
- ``toolthink data demos ...``: build verified demonstrations (`toolthink.data.cli`).
- ``toolthink eval ...``, ``toolthink show EPISODES.jsonl``, ``toolthink report RUN_DIR``,
  ``toolthink repair FILE.py`` (`toolthink.evaluation`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from toolthink.commands import dispatch, usage

__all__ = ["COMMANDS", "INTERRUPTED", "main"]

COMMANDS = {
    "demo": ("toolthink.pipeline", "the main job on the embedded defaults (--quick: fewest steps)"),
    "study": ("toolthink.study", "train and evaluate base, CoE-SFT, CoE-SFT+RL, direct-SFT; "
              "resumable"),
    "data": ("toolthink.data.cli", "build synthetic bugs and verified demonstrations"),
    "eval": ("toolthink.evaluation.cli", "evaluate a model: pass@k, Chain-of-Edits vs direct"),
    "show": ("toolthink.evaluation.show", "replay saved episodes turn by turn"),
    "report": ("toolthink.evaluation.page_cli", "write a run's results page (one HTML file)"),
    "repair": ("toolthink.evaluation.repair", "repair your own file with a trained model"),
}

INTERRUPTED = {
    # Both build everything in memory and write their --out folder only at the end.
    "data": "interrupted; nothing partial was written",
    "eval": "interrupted; nothing partial was written",
    "show": "interrupted; no --html page was written",
    "report": "interrupted; the page may be incomplete: run it again",
    "repair": "interrupted; nothing written, the file unchanged",
    "study": "interrupted; rerun the same command to reuse the finished stages and resume",
}
"""Command -> the line printed after Ctrl-C (exit status 130)."""

USAGE = usage("toolthink", COMMANDS, "Run `toolthink <command> --help` for a command's options.")


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    return dispatch("toolthink", COMMANDS, USAGE, argv, INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
