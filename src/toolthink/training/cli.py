"""The ``toolthink-train`` command line (``sft`` and ``rl``; filled by later work)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink-train`` argument parser."""
    return argparse.ArgumentParser(
        prog="toolthink-train",
        description="Fine-tune a model to repair code with Chain-of-Edits (sft, then rl).",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``toolthink-train`` command line; returns the process exit status."""
    make_parser().parse_args(argv)
    return 0
