"""The ``toolthink`` command line (data, evaluation, repair; filled by later work)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main", "make_parser"]


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink`` argument parser."""
    return argparse.ArgumentParser(
        prog="toolthink",
        description="Repair Python code with small language models that drive an editor.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``toolthink`` command line; returns the process exit status."""
    make_parser().parse_args(argv)
    return 0
