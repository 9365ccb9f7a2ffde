"""Summarise an RL run's step-time split from its metrics.jsonl.

Usage: python benchmarks/bench_rl.py runs/rl-cpu/metrics.jsonl [--skip 1]

Prints the mean seconds per step in generation, sandbox and training, their
shares, the mean reward and pass rate over the first and last thirds, and
the peak resident memory. ``--every N`` adds a markdown table of the means per
N steps, and the keywords of the sampled episodes' commands (first command, and
all commands) per N steps from ``trajectories.jsonl`` beside the metrics.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--skip", type=int, default=1, help="warm-up steps left out of the split")
    parser.add_argument("--every", type=int, default=0,
                        help="also a table of means per this many steps")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.metrics.read_text().splitlines() if line.strip()]
    records = [r for r in records if "time/generation" in r]
    timed = records[args.skip:] or records
    parts = ("time/generation", "time/sandbox", "time/training")
    total = statistics.fmean(r["time/step"] for r in timed)
    print(f"steps: {len(records)} (split over {len(timed)}), mean step {total:.1f} s")
    for key in parts:
        value = statistics.fmean(r[key] for r in timed)
        print(f"  {key.split('/')[1]:<10} {value:7.1f} s  {100 * value / total:5.1f} %")
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
        print_table(records, args.every, args.metrics.parent / "trajectories.jsonl")


def print_table(records: list[dict[str, float]], every: int, trajectories: Path) -> None:
    """Means per ``every`` steps, then command keywords per ``every`` steps."""
    print("\n| steps | mean reward | pass rate | turns per episode "
          "| truncated (no EXIT) | s/step |")
    print("|---|---:|---:|---:|---:|---:|")
    for start in range(0, len(records), every):
        chunk = records[start:start + every]
        cells = [statistics.fmean(r[k] for r in chunk)
                 for k in ("reward", "pass_rate", "turns", "truncated_rate", "time/step")]
        print(f"| {start + 1}-{start + len(chunk)} | {cells[0]:+.3f} | {cells[1]:.3f} "
              f"| {cells[2]:.2f} | {cells[3]:.2f} | {cells[4]:.0f} |")
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
