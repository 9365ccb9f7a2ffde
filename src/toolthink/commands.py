"""Subcommand dispatch shared by the ``toolthink`` and ``toolthink-train`` scripts.

Each subcommand is a module with ``main(argv) -> int``, imported only when it is
chosen, so ``--help`` never imports torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence

__all__ = ["dispatch", "usage"]


def usage(prog: str, commands: Mapping[str, tuple[str, str]], tail: str) -> str:
    """The usage text: one line per command with its help, then ``tail``."""
    width = max(map(len, commands))
    lines = "\n".join(f"  {name:<{width}} {text}" for name, (_, text) in commands.items())
    return f"usage: {prog} {{{','.join(commands)}}} ...\n\n{lines}\n\n{tail}\n"


def dispatch(
    prog: str, commands: Mapping[str, tuple[str, str]], help_text: str,
    argv: Sequence[str] | None,
) -> int:
    """Run the chosen subcommand's ``main`` with the remaining arguments.

    ``-h``/``--help`` print ``help_text``; ``--version`` prints toolthink's version.

    Args:
        prog: The script's name, for messages.
        commands: Name -> (module, help text).
        help_text: Printed for ``-h``/``--help`` and after an unknown command.
        argv: The arguments; ``sys.argv[1:]`` when None.

    Returns:
        The subcommand's exit status; 2 for no or an unknown command.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(help_text)
        return 0 if args else 2
    if args[0] == "--version":
        from toolthink import __version__  # noqa: PLC0415

        sys.stdout.write(f"{prog} {__version__}\n")
        return 0
    name, rest = args[0], args[1:]
    if name not in commands:
        sys.stderr.write(f"{prog}: unknown command {name!r}\n\n{help_text}")
        return 2
    module = importlib.import_module(commands[name][0])
    status: int = module.main(rest)
    return status
