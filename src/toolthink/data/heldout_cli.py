"""``toolthink data heldout``: write the fixed held-out evaluation set to one JSONL file.

::

    toolthink data heldout --data-dir ../shared/data --out runs/heldout.jsonl

MBPP's ``test`` split (ids 11-510) with ``--data-dir`` (or ``$TOOLTHINK_DATA_DIR``),
else the embedded corpus' ``test`` split; seed fixed
(`toolthink.data.heldout.HELDOUT_SEED`). The file lists each task's bug kinds
and number of edits as fields; ``toolthink eval --dataset heldout`` scores the
same tasks.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
from pathlib import Path
from typing import Any

from toolthink.commands import output_folder_problem, positive_int, usage_error
from toolthink.data.heldout import heldout_tasks, write_heldout
from toolthink.env import EnvConfig
from toolthink.errors import ToolthinkError
from toolthink.tasks.bug_kinds import summary_kind
from toolthink.tool import SandboxPool

__all__ = ["add_heldout_parser", "run_heldout"]

log = logging.getLogger("toolthink.data")

_PROG = "toolthink data heldout"


def add_heldout_parser(sub: Any) -> None:
    """Add the ``heldout`` subcommand to ``toolthink data``'s subparsers."""
    parser = sub.add_parser("heldout", help="write the fixed held-out evaluation set (JSONL)")
    parser.add_argument("--data-dir", default=os.environ.get("TOOLTHINK_DATA_DIR"),
                        help="folder with mbxp_mbpp/ (MBPP test split); without it, the "
                        "embedded corpus' test split; default: $TOOLTHINK_DATA_DIR")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N problems (default: all)")
    parser.add_argument("--timeout", type=float, default=EnvConfig().timeout,
                        help="seconds per test run (default: the environment's)")
    parser.add_argument("--out", required=True, help="the JSONL file to write")


def run_heldout(args: argparse.Namespace) -> int:
    """Build and write the held-out set; returns the exit status (2 for bad usage)."""
    out = Path(args.out)
    if out.is_dir():
        usage_error(_PROG, f"--out {args.out!r} is a folder: name a .jsonl file")
    problem = output_folder_problem("--out", str(out.parent))
    if problem is not None:
        usage_error(_PROG, problem)
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        usage_error(_PROG, f"data folder {args.data_dir!r} (from --data-dir or "
                    "TOOLTHINK_DATA_DIR) is not a folder: pass the folder that holds "
                    "mbxp_mbpp/, or leave it out for the embedded corpus")
    try:
        with SandboxPool() as pool:
            tasks = heldout_tasks(args.data_dir, pool, limit=args.limit, timeout=args.timeout)
    except ToolthinkError as e:  # a missing or malformed MBPP file
        usage_error(_PROG, str(e))
    write_heldout(out, tasks)
    kinds = collections.Counter(summary_kind(t.provenance.bug_kinds) for t in tasks)
    log.info("wrote %d held-out tasks to %s; bug kinds: %s", len(tasks), out, dict(kinds))
    return 0
