"""``toolthink data demos``: build verified demonstrations, with a progress bar.

Example::

    toolthink data demos --source mbpp --data-dir ../shared/data --per-problem 4 \\
        --seed 0 --out runs/demos
    toolthink data demos --source embedded --per-problem 3 --out runs/demos-embedded
    toolthink data demos --format direct --from runs/demos --out runs/demos-direct
    toolthink data heldout --data-dir ../shared/data --out runs/heldout.jsonl

``--format direct`` writes the direct-answer twins of the demonstrations (the
same problems and bugs, the whole fixed program as the answer:
`toolthink.data.direct`); built from scratch with the same options and seed,
or converted from a Chain-of-Edits set with ``--from``, they are the same.
``heldout`` writes the fixed held-out evaluation set (`toolthink.data.heldout`).

MBPP problems keep their upstream split (601-974 train, 511-600 validation,
11-510 test, 1-10 prompt); ``--split`` chooses which to build (default: train),
so evaluation problems never appear in training. The embedded corpus is split
80/20 into ``train`` and ``test`` by a hash of each problem's id (`split_of`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from toolthink.commands import output_folder_problem, positive_int, usage_error
from toolthink.data.demos import ALL_KINDS, DemoConfig, build_demos
from toolthink.data.direct import direct_demos
from toolthink.data.heldout_cli import add_heldout_parser, run_heldout
from toolthink.data.store import read_jsonl, write_demos
from toolthink.env import EnvConfig, TrainingFormat
from toolthink.errors import ToolthinkError
from toolthink.tasks import Problem, load_embedded_corpus, load_mbpp
from toolthink.tasks.splits import split_of
from toolthink.tool import SandboxPool

__all__ = ["main", "make_parser"]

log = logging.getLogger("toolthink.data")


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink data`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demos = sub.add_parser("demos", help="build verified Chain-of-Edits demonstrations")
    demos.add_argument("--source", choices=["mbpp", "embedded"], default="embedded",
                       help="correct programs to corrupt (default: embedded, needs no data)")
    demos.add_argument("--data-dir", default=os.environ.get("TOOLTHINK_DATA_DIR"),
                       help="folder with mbxp_mbpp/ (the layout of ../shared/data); "
                            "default: $TOOLTHINK_DATA_DIR")
    demos.add_argument("--split", default="train",
                       choices=["train", "validation", "test", "prompt", "all"],
                       help="problem split to build from (default: train)")
    demos.add_argument("--per-problem", type=positive_int, default=1,
                       help="demonstrations attempted per problem (default: 1)")
    demos.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")
    demos.add_argument("--min-edits", type=positive_int, default=1,
                       help="fewest corrupting edits (default: 1)")
    demos.add_argument("--max-edits", type=positive_int, default=5,
                       help="most corrupting edits (default: 5)")
    demos.add_argument("--kinds", nargs="+", default=[str(k) for k in ALL_KINDS],
                       metavar="KIND", help="edit kinds (default: all): "
                       + ", ".join(repr(str(k)) for k in ALL_KINDS))
    demos.add_argument("--order", choices=["reversed", "minimal"], default="reversed",
                       help="trace order: the paper's reversed edits, or a minimal line diff")
    demos.add_argument("--detours", type=_share, default=0.0, metavar="SHARE",
                       help="share of demonstrations (0 to 1) that get one wrong command, its "
                       "feedback and the recovery inserted; the wrong command is not trained "
                       "on (default: 0, the paper's demonstrations)")
    demos.add_argument("--limit", type=positive_int, default=None,
                       help="use only the first N problems (default: all)")
    demos.add_argument("--timeout", type=float, default=EnvConfig().timeout,
                       help="seconds per test run (default: the environment's)")
    demos.add_argument("--format", choices=[f.value for f in TrainingFormat],
                       default=TrainingFormat.CHAIN_OF_EDITS.value,
                       help="chain-of-edits (default): command traces; direct: the whole fixed "
                       "program as one answer, for the trained direct baseline")
    demos.add_argument("--from", dest="from_demos", metavar="DEMOS",
                       help="with --format direct: convert this Chain-of-Edits demos.jsonl (or "
                       "its folder) instead of building; the other build options are ignored")
    demos.add_argument("--out", required=True, help="output folder")
    add_heldout_parser(sub)
    return parser


_PROG = "toolthink data demos"


def _share(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        msg = f"{text!r} is not a share: use a number from 0 to 1, e.g. 0.5"
        raise argparse.ArgumentTypeError(msg)
    return value


def _check_usage(args: argparse.Namespace) -> None:
    """Exit with status 2 and a message naming the value for a bad option, before any work."""
    if args.from_demos is not None:
        if args.format != TrainingFormat.DIRECT.value:
            usage_error(_PROG, f"--from {args.from_demos!r} converts Chain-of-Edits "
                        "demonstrations to direct ones: pass --format direct too")
        path = Path(args.from_demos)
        if not (path / "demos.jsonl" if path.is_dir() else path).is_file():
            usage_error(_PROG, f"--from {args.from_demos!r} is not a demos.jsonl file or a "
                        "folder holding one: pass the --out of `toolthink data demos`")
    if args.min_edits > args.max_edits:
        usage_error(_PROG, f"--min-edits {args.min_edits} is above --max-edits "
                    f"{args.max_edits}: lower --min-edits or raise --max-edits")
    problem = output_folder_problem("--out", args.out)
    if problem is not None:
        usage_error(_PROG, problem)
    if args.source == "mbpp":
        if not args.data_dir:
            usage_error(_PROG, "--source mbpp needs --data-dir (or TOOLTHINK_DATA_DIR): "
                        "the folder that holds mbxp_mbpp/")
        if not Path(args.data_dir).is_dir():
            usage_error(_PROG, f"data folder {args.data_dir!r} (from --data-dir or "
                        "TOOLTHINK_DATA_DIR) is not a folder: pass the folder that holds "
                        "mbxp_mbpp/ (the layout of ../shared/data)")


def _problems(args: argparse.Namespace) -> list[Problem]:
    if args.source == "embedded":
        problems = list(load_embedded_corpus())
    else:
        problems = list(load_mbpp(args.data_dir))
    problems = [p for p in problems if args.split == "all" or split_of(p.task_id) == args.split]
    return problems[: args.limit] if args.limit is not None else problems


class _LogProgress:
    """Logs candidates done, the rate and the time left, about every 5 % of ``total``."""

    def __init__(self, total: int, start: float) -> None:
        self.total, self.start, self.done = total, start, 0
        self.step = max(total // 20, 1)
        self.next = self.step

    def __call__(self, n: int) -> None:
        self.done += n
        if self.done < self.next:
            return
        self.next = (self.done // self.step + 1) * self.step
        elapsed = time.perf_counter() - self.start
        rate = self.done / max(elapsed, 1e-9)
        left = (self.total - self.done) / max(rate, 1e-9)
        log.info("%d/%d candidates (%.0f %%) in %.0f s, %.1f/s, about %.0f min left",
                 self.done, self.total, 100 * self.done / self.total, elapsed, rate, left / 60)


def _convert(args: argparse.Namespace) -> int:
    """``--format direct --from DEMOS``: the direct twins of built demonstrations."""
    path = Path(args.from_demos)
    source = path / "demos.jsonl" if path.is_dir() else path
    try:
        records = read_jsonl(source)
        records = direct_demos(records)
    except (ToolthinkError, ValueError, KeyError) as e:
        usage_error(_PROG, f"--from {args.from_demos!r}: {e}: pass the demos.jsonl of "
                    "`toolthink data demos --format chain-of-edits`")
    stats = {"format": args.format, "from": str(source), "built": len(records)}
    out = write_demos(Path(args.out), records, stats)
    log.info("wrote %d direct demonstrations converted from %s to %s", len(records), source, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``toolthink data``; returns the exit status (2 for a bad option or data file)."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "heldout":
        return run_heldout(args)
    _check_usage(args)
    if args.from_demos is not None:
        return _convert(args)
    try:
        config = DemoConfig(
            per_problem=args.per_problem, seed=args.seed, min_edits=args.min_edits,
            max_edits=args.max_edits, kinds=tuple(args.kinds), order=args.order,
            detours=args.detours,
            env=EnvConfig(timeout=args.timeout),
        )
    except ValueError as e:
        usage_error(_PROG, str(e))
    out_dir = Path(args.out)
    try:
        problems = _problems(args)
    except ToolthinkError as e:  # a missing or malformed data file
        usage_error(_PROG, str(e))
    total = len(problems) * args.per_problem
    from rich.progress import Progress  # noqa: PLC0415 - the CLI's own dependency

    start = time.perf_counter()
    with SandboxPool() as pool, Progress() as progress:
        bar = progress.add_task(f"demonstrations from {len(problems)} problems", total=total)
        report = _LogProgress(total, start) if not progress.console.is_terminal else None

        def advance(n: int) -> None:
            progress.advance(bar, n)
            if report is not None:  # rich draws nothing live into a log file or CI
                report(n)

        result = build_demos(problems, config, pool=pool, progress=advance)
        progress.update(bar, completed=total)
    seconds = time.perf_counter() - start
    records = list(result.records)
    if args.format == TrainingFormat.DIRECT.value:
        records = direct_demos(records)
    stats = {
        "source": args.source, "split": args.split, "problems": len(problems),
        "attempted": result.attempted, "built": len(records), "format": args.format,
        "rejected": result.rejected, "seconds": round(seconds, 1),
        "isolation": pool.isolation.value,
        "config": {k: v for k, v in vars(args).items() if k != "command"},
    }
    out = write_demos(out_dir, records, stats)
    log.info("built %d demonstrations from %d candidates in %.0f s; rejected: %s; wrote %s",
             len(result.records), result.attempted, seconds, result.rejected, out)
    return 0


if __name__ == "__main__":  # python -m toolthink.data.cli demos ...
    sys.exit(main())
