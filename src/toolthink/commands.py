"""Subcommand dispatch shared by the ``toolthink`` and ``toolthink-train`` scripts.

Each subcommand is a module with ``main(argv) -> int``, imported only when it is
chosen, so ``--help`` never imports torch.

Also the checks every command runs on its arguments before any expensive work
(output folders, ``--config`` files, numbers), each returning the message that
names the value and the fix, and the exit statuses they share.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "DefaultsHelpFormatter",
    "adapter_folder_problem",
    "config_file_problem",
    "dispatch",
    "model_path_problem",
    "non_negative_float",
    "output_dir_problem",
    "output_file_problem",
    "output_folder_problem",
    "positive_int",
    "usage",
    "usage_error",
]

EXIT_USAGE = 2
"""Exit status of a bad command line (argparse's)."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, the shell's convention)."""

INTERRUPTED = "interrupted"
"""The Ctrl-C line of a command that names no better one."""


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` that states each option's default: ``(default: X)`` after its help.

    Like argparse's ``ArgumentDefaultsHelpFormatter``, except that it adds nothing
    where the help already names its default, or where the default is None or
    False (an unset option or a flag, whose help says what unset means), and it
    prints a tuple default as ``1,4`` (the way it is typed).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default is None
                or default is False or default == argparse.SUPPRESS):
            return action.help
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def usage_error(prog: str, msg: str) -> NoReturn:
    """Write ``prog: msg`` to stderr and exit with `EXIT_USAGE`."""
    sys.stderr.write(f"{prog}: {msg}\n")
    raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1, else an error naming the value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r} must be an integer >= 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def non_negative_float(text: str) -> float:
    """An argparse ``type``: a number >= 0 (a temperature), else an error naming the value."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        msg = f"{text!r} must be a number >= 0 (0: greedy)"
        raise argparse.ArgumentTypeError(msg)
    return value


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path()


def output_folder_problem(flag: str, value: str) -> str | None:
    """Why ``value`` cannot become an output folder, or None when it can.

    It can when it is a folder, or when the nearest part of it that exists is a
    folder (the rest is created).
    """
    path = Path(value)
    if path.exists() and not path.is_dir():
        return f"{flag} {value!r} is a file, not a folder: name a folder (new or existing)"
    existing = _nearest_existing(path)
    if not existing.is_dir():
        return (f"{flag} {value!r} lies under {str(existing)!r}, which is a file, not a "
                "folder: name a folder outside it")
    return None


def output_dir_problem(value: str) -> str | None:
    """Why a trainer's ``output_dir`` cannot be a folder, or None when it can.

    The ``output_dir=VALUE`` wording of TRL's options (`output_folder_problem`
    words a ``--flag VALUE``); shared by ``toolthink-train sft`` and ``rl``.
    """
    out = Path(value)
    existing = _nearest_existing(out)
    if existing.is_dir():
        return None
    where = "is a file" if existing == out else f"lies under the file {str(existing)!r}"
    return f"output_dir={value!r} {where}: pass --output_dir a folder (new or existing)"


def _looks_like_a_path(value: str) -> bool:
    """A path, not a hub id (``org/name``: one slash, never leading)."""
    return (value.startswith((".", "/", "~")) or value.count("/") > 1
            or (os.sep != "/" and os.sep in value))


def model_path_problem(name: str, value: str) -> str | None:
    """Why the model ``value`` cannot load: a missing path, a file, a folder without config.json.

    A hub id (``org/name``) that is no local path, or ``embedded``, is never a
    problem here: only loading can tell whether the id is in the local cache. Checked before the
    model loads, where transformers would call a missing folder a bad hub id.

    Args:
        name: The option, as the message names it (``model_name_or_path``).
        value: Its value.
    """
    path = Path(value).expanduser()
    if path.is_file():
        return (f"{name}={value!r} is a file: pass a model folder (one with config.json, "
                "as save_pretrained writes), 'embedded' or a hub id")
    if path.is_dir():
        if (path / "config.json").is_file():
            return None
        hint = (" (an adapter folder: pass it as --adapter, with the base model here)"
                if (path / "adapter_config.json").is_file() else "")
        return (f"{name}={value!r} holds no config.json{hint}: pass a model folder, "
                "'embedded' or a hub id")
    if not _looks_like_a_path(value):
        return None
    return (f"{name}={value!r} looks like a path but does not exist: pass a model folder, "
            "'embedded' (the default), or a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct "
            "(org/name; it needs the network or the local Hugging Face cache)")


def adapter_folder_problem(flag: str, value: str) -> str | None:
    """Why ``value`` is not a peft adapter folder, or None when it is one.

    An adapter folder holds ``adapter_config.json`` (peft's ``save_pretrained``;
    ``toolthink-train sft`` and ``rl`` write one). Checked before the model
    loads, where peft would raise a 40-line traceback (issue 17).

    Args:
        flag: The option, as the message names it (``--adapter``).
        value: Its value.
    """
    path = Path(value).expanduser()
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        return f"{flag} {value!r} is {what}, not a folder: pass the output folder of SFT or RL"
    if (path / "adapter_config.json").is_file():
        return None
    hint = ("it holds a whole model (config.json): pass it as --model, without --adapter"
            if (path / "config.json").is_file() else
            "pass the output folder of toolthink-train sft or rl")
    return f"{flag} {value!r} is not a peft adapter (no adapter_config.json in it): {hint}"


def output_file_problem(flag: str, value: str) -> str | None:
    """Why ``value`` cannot be written as a file, or None when it can."""
    path = Path(value)
    if path.is_dir():
        return f"{flag} {value!r} is a folder: name a file, e.g. {path / 'out.html'}"
    parent = path.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        return f"{flag} {value!r}: its folder {str(parent)!r} {what}: create it or name another"
    return None


def config_file_problem(args: Sequence[str], example: str) -> str | None:
    """Why the ``--config X`` (or ``--config=X``) in ``args`` cannot be read, or None.

    Checked before TRL's parser, which would raise ``FileNotFoundError``,
    ``IsADirectoryError`` or a ``yaml.YAMLError`` from inside ``trl/scripts/utils.py``.

    Args:
        args: The command line.
        example: A config file to suggest, e.g. ``configs/sft_cpu.yaml``.
    """
    values = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    values += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"]
    for value in values:
        path = Path(value)
        if path.is_dir():
            found = sorted(str(p) for p in path.glob("*.y*ml"))
            hint = f" (it holds {', '.join(found)})" if found else ""
            return (f"--config {value!r} is a folder: name a YAML file in it{hint}, "
                    f"e.g. --config {example}")
        if not path.is_file():
            return (f"--config {value!r} does not exist (from {os.getcwd()}): name a YAML "
                    f"file, e.g. --config {example}")
        import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 (TRL's dependency)

        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            reason = getattr(e, "problem", None) or str(e).splitlines()[0]
            return (f"--config {value!r} is not valid YAML{at} ({reason}): fix the file, e.g. "
                    f"from --config {example}")
    return None


def resume_checkpoint(value: str | None) -> str | bool | None:
    """TRL's ``resume_from_checkpoint`` from its command-line text.

    Returns:
        None for unset/``false``/``none``; True (the last checkpoint in
        ``output_dir``, transformers' meaning) for ``true``/``last``/``latest``;
        else the checkpoint folder as given.
    """
    if value is None or value.lower() in ("", "false", "none"):
        return None
    if value.lower() in ("true", "last", "latest"):
        return True
    return value


def usage(prog: str, commands: Mapping[str, tuple[str, str]], tail: str) -> str:
    """The usage text: one line per command with its help, then ``tail``."""
    width = max(map(len, commands))
    lines = "\n".join(f"  {name:<{width}} {text}" for name, (_, text) in commands.items())
    return f"usage: {prog} {{{','.join(commands)}}} ...\n\n{lines}\n\n{tail}\n"


def dispatch(
    prog: str, commands: Mapping[str, tuple[str, str]], help_text: str,
    argv: Sequence[str] | None, interrupted: Mapping[str, str] | None = None,
) -> int:
    """Run the chosen subcommand's ``main`` with the remaining arguments.

    ``-h``/``--help`` print ``help_text``; ``--version`` prints toolthink's version.
    Ctrl-C prints one line (the command's ``interrupted`` text) instead of a traceback.

    Args:
        prog: The script's name, for messages.
        commands: Name -> (module, help text).
        help_text: Printed for ``-h``/``--help`` and after an unknown command.
        argv: The arguments; ``sys.argv[1:]`` when None.
        interrupted: Name -> the line printed after Ctrl-C, saying what was
            (not) written; `INTERRUPTED` for a command without one.

    Returns:
        The subcommand's exit status; 2 for no or an unknown command,
        `EXIT_INTERRUPTED` after Ctrl-C.
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
    try:
        module = importlib.import_module(commands[name][0])
        status: int = module.main(rest)
    except KeyboardInterrupt:
        line = (interrupted or {}).get(name, INTERRUPTED)
        sys.stderr.write(f"\n{prog} {name}: {line}\n")
        return EXIT_INTERRUPTED
    return status
