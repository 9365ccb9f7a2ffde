"""``toolthink report RUN_DIR``: write the results page of a run as one HTML file.

::

    toolthink report runs/eval-quixbugs            # -> runs/eval-quixbugs/report.html
    toolthink report runs/demo --out demo.html     # every runs/demo/eval-*/ on one page

RUN_DIR is the ``--out`` folder of ``toolthink eval`` (results.json,
episodes.jsonl, figures) or of ``toolthink demo`` (one ``eval-<dataset>/``
folder per dataset). The page (`toolthink.evaluation.page`) needs no network:
open it in any browser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from toolthink.commands import DefaultsHelpFormatter, output_file_problem, usage_error

__all__ = ["main", "make_parser"]

_PROG = "toolthink report"


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink report`` argument parser."""
    parser = argparse.ArgumentParser(prog=_PROG, description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="the --out folder of toolthink eval or toolthink demo")
    parser.add_argument("--out", metavar="FILE.html",
                        help="the page to write (default: RUN_DIR/report.html)")
    parser.add_argument("--title", help="the page's title (default: 'toolthink results: "
                        "RUN_DIR')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``toolthink report``; returns the exit status (0, or 2 for bad usage)."""
    args = make_parser().parse_args(argv)
    from toolthink.evaluation.page import write_page  # noqa: PLC0415
    from toolthink.evaluation.run_folder import RunFolderError, read_run  # noqa: PLC0415

    try:
        evaluations = read_run(args.run_dir)
    except RunFolderError as e:
        usage_error(_PROG, str(e))
    out = Path(args.out) if args.out else Path(args.run_dir) / "report.html"
    problem = output_file_problem("--out", str(out))
    if problem is not None:
        usage_error(_PROG, problem)
    title = args.title or f"toolthink results: {args.run_dir}"
    write_page(evaluations, out, title=title)
    episodes = sum(len(ev.episodes) for ev in evaluations)
    sys.stdout.write(f"wrote {out} ({len(evaluations)} evaluation(s), {episodes} episodes)\n")
    return 0


if __name__ == "__main__":  # python -m toolthink.evaluation.page_cli
    sys.exit(main())
