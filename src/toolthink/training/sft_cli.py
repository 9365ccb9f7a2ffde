"""``toolthink-train sft``: supervised fine-tuning on demonstrations.

TRL's script convention: `make_parser` builds a ``TrlParser`` over
`toolthink.training.sft_args.SFTScriptArguments` and TRL's ``SFTConfig``; `main`
parses ``--config FILE.yaml`` plus flag overrides and trains::

    toolthink-train sft --config configs/sft_cpu.yaml --max_steps 20
    accelerate launch --num_processes 2 -m toolthink.training.sft_cli --config ...
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

from trl.scripts.utils import TrlParser

from toolthink.commands import EXIT_INTERRUPTED, EXIT_USAGE, config_file_problem
from toolthink.errors import ToolthinkError
from toolthink.models.deprecations import silence_upstream_deprecations
from toolthink.models.devices import with_cpu_fix
from toolthink.training.cli import CHECKPOINTS_REMAIN
from toolthink.training.sft import train_sft
from toolthink.training.sft_args import CPU_CONFIG, CommandSFTConfig, SFTScriptArguments

__all__ = ["main", "make_parser"]


def make_parser() -> TrlParser:
    """The parser of ``toolthink-train sft`` (toolthink's options, then TRL's)."""
    types: list[Any] = [SFTScriptArguments, CommandSFTConfig]
    return TrlParser(
        types,
        prog="toolthink-train sft",
        description="Supervised fine-tuning on Chain-of-Edits demonstrations.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), train, return the exit status.

    Returns:
        0 on success, 2 for a bad configuration or unusable data, 130 after Ctrl-C
        (checkpoints already saved stay in ``output_dir``).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s", datefmt="%H:%M:%S")
    silence_upstream_deprecations()
    args = list(sys.argv[1:] if argv is None else argv)
    problem = config_file_problem(args, CPU_CONFIG)
    if problem is not None:
        sys.stderr.write(f"toolthink-train sft: {problem}\n")
        return EXIT_USAGE
    try:
        script_args, config = make_parser().parse_args_and_config(args=args)
    except (ToolthinkError, ValueError) as e:
        sys.stderr.write(f"toolthink-train sft: {with_cpu_fix(e, CPU_CONFIG)}\n")
        return EXIT_USAGE
    try:
        result = train_sft(script_args, config)
    except ToolthinkError as e:
        sys.stderr.write(f"toolthink-train sft: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:  # also under `accelerate launch`, which skips the dispatcher
        sys.stderr.write(f"\ntoolthink-train sft: {CHECKPOINTS_REMAIN}\n")
        return EXIT_INTERRUPTED
    sys.stdout.write(f"Wrote {result.output_dir}\n")
    return 0


if __name__ == "__main__":  # `accelerate launch -m toolthink.training.sft_cli ...`
    sys.exit(main())
