"""Summarise an RL run's step-time split from its metrics.jsonl.

Usage: python benchmarks/bench_rl.py runs/rl-cpu/metrics.jsonl [--skip 1 | --steps 2-30]
       python benchmarks/bench_rl.py --from-results FILE[:A-B] [FILE[:A-B] ...]
       python benchmarks/bench_rl.py --from-results FILE --every 5

Prints the mean seconds per step in generation, sandbox and training, their
shares (over the steps after ``--skip`` warm-up steps, or the 1-based inclusive
range ``--steps A-B``; ``--steps 1`` is one step), the mean reward and pass
rate over the first and last thirds, and the peak resident memory. ``--every
N`` adds a markdown table of the means per N steps, and the keywords of the
sampled episodes' commands (first command, and all commands) per N steps from
``trajectories.jsonl`` beside the metrics.

``--from-results`` prints only a markdown table, from committed files (the docs'
tables, benchmarks/doc_tables.py): one row of the split per ``FILE:A-B`` (steps
A to B; without ``:A-B``, every step after the first), or with ``--every N``
the means per N steps of one file.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from toolthink.markdown import markdown_table

PARTS = ("time/step", "time/generation", "time/sandbox", "time/training")
"""The split's keys: the whole step, then its parts, seconds."""


def read_steps(metrics: Path) -> list[dict[str, float]]:
    """The per-step records of a metrics.jsonl (lines with a time split)."""
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [r for r in records if "time/generation" in r]


def parse_steps(text: str) -> tuple[int, int]:
    """``"2-30"`` -> (2, 30); ``"1"`` -> (1, 1): 1-based, inclusive."""
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def parse_cited(text: str) -> tuple[Path, tuple[int, int] | None]:
    """``"FILE:2-30"`` -> (FILE, (2, 30)); ``"FILE"`` -> (FILE, None)."""
    path, _, steps = text.rpartition(":") if ":" in text else (text, "", "")
    return Path(path), parse_steps(steps) if steps else None


def seconds(value: float) -> str:
    """A time in seconds for a table: 2 decimals under 10 s, 1 from there."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def step_split(records: list[dict[str, float]], first: int, last: int) -> dict[str, float]:
    """Mean seconds of `PARTS` over steps ``first``..``last`` (1-based, inclusive)."""
    chosen = records[first - 1:last]
    if not chosen:
        msg = f"no step in {first}-{last}: the file holds {len(records)}"
        raise ValueError(msg)
    return {key: statistics.fmean(r[key] for r in chosen) for key in PARTS}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("metrics", type=Path, nargs="?")
    parser.add_argument("--skip", type=int, default=1, help="warm-up steps left out of the split")
    parser.add_argument("--steps", type=parse_steps, default=None,
                        help="split over these steps instead, e.g. 2-30 (1-based, inclusive)")
    parser.add_argument("--every", type=int, default=0,
                        help="also a table of means per this many steps")
    parser.add_argument("--from-results", nargs="+", type=parse_cited, default=None,
                        metavar="FILE[:A-B]", help="print only a table from these files")
    args = parser.parse_args(argv)
    if args.from_results:
        if args.every > 0:
            print(every_table(read_steps(args.from_results[0][0]), args.every), end="")
        else:
            print(split_table(args.from_results), end="")
        return
    if args.metrics is None:
        parser.error("give a metrics.jsonl, or --from-results")
    records = read_steps(args.metrics)
    first, last = args.steps or default_steps(records, args.skip)
    split = step_split(records, first, last)
    total = split["time/step"]
    print(f"steps: {len(records)} (split over steps {first}-{min(last, len(records))}), "
          f"mean step {total:.2f} s")
    for key in PARTS[1:]:
        value = split[key]
        print(f"  {key.split('/')[1]:<10} {value:7.2f} s  {100 * value / total:5.1f} %")
    third = max(len(records) // 3, 1)
    for name, chunk in (("first third", records[:third]), ("last third", records[-third:])):
        reward = statistics.fmean(r["reward"] for r in chunk)
        passed = statistics.fmean(r["pass_rate"] for r in chunk)
        turns = statistics.fmean(r["turns"] for r in chunk)
        print(f"  {name}: reward {reward:+.3f}, pass rate {passed:.2f}, turns {turns:.2f}")
    peaks = [r["memory/peak_rss_gib"] for r in records if "memory/peak_rss_gib" in r]
    if peaks:  # runs recorded before this field have none
        print(f"  peak RSS: {peaks[0]:.1f} GiB after step 1, {peaks[-1]:.1f} GiB at the end")
    if args.every > 0:
        print()
        print(every_table(records, args.every), end="")
        print_keywords(records, args.every, args.metrics.parent / "trajectories.jsonl")


def default_steps(records: list[dict[str, float]], skip: int) -> tuple[int, int]:
    """Every step after ``skip`` warm-up steps; all of them when there are no more."""
    return (skip + 1, len(records)) if len(records) > skip else (1, len(records))


def split_table(cited: Sequence[tuple[Path, tuple[int, int] | None]]) -> str:
    """One row per (file, steps): the mean seconds per step and its parts over those steps."""
    rows = []
    for path, steps in cited:
        records = read_steps(path)
        first, last = steps or default_steps(records, 1)
        split = step_split(records, first, last)
        rows.append([f"`{path.name}`", f"{first}-{last}" if last > first else str(first),
                     *(seconds(split[key]) for key in PARTS)])
    return markdown_table(["results file", "steps", "s/step", "generation", "sandbox",
                           "training"], rows)


def every_table(records: list[dict[str, float]], every: int) -> str:
    """Means per ``every`` steps: reward, pass rate, turns, truncated share, seconds per step."""
    rows = []
    for start in range(0, len(records), every):
        chunk = records[start:start + every]
        cells = [statistics.fmean(r[k] for r in chunk)
                 for k in ("reward", "pass_rate", "turns", "truncated_rate", "time/step")]
        rows.append([f"{start + 1}-{start + len(chunk)}", f"{cells[0]:+.3f}", f"{cells[1]:.3f}",
                     f"{cells[2]:.2f}", f"{cells[3]:.2f}", f"{cells[4]:.0f}"])
    return markdown_table(["steps", "mean reward", "pass rate", "turns per episode",
                           "truncated (no EXIT)", "s/step"], rows)


def print_keywords(records: list[dict[str, float]], every: int, trajectories: Path) -> None:
    """The command keywords of the sampled episodes per ``every`` steps, if they were kept."""
    if not trajectories.exists():
        return
    lines = trajectories.read_text().splitlines()
    episodes = [json.loads(line) for line in lines if line.strip()]
    print(f"\ncommand keywords of the {len(episodes)} sampled episodes (trajectories.jsonl)")
    for start in range(0, len(records), every):
        chunk = [e for e in episodes if start <= e["step"] < start + every]
        first = collections.Counter(e["commands"][0].split(" ")[0] for e in chunk if e["commands"])
        every_cmd = collections.Counter(c.split(" ")[0] for e in chunk for c in e["commands"])
        passed = sum(e["passed"] for e in chunk)
        print(f"  steps {start + 1}-{start + every}: {len(chunk)} episodes, {passed} passed; "
              f"first {dict(first.most_common())}; all {dict(every_cmd.most_common())}")


if __name__ == "__main__":
    main()
