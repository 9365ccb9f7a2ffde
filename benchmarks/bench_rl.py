"""Summarise an RL run's step-time split from its metrics.jsonl.

Usage: python benchmarks/bench_rl.py runs/rl-cpu/metrics.jsonl [--skip 1]

Prints the mean seconds per step in generation, sandbox and training, their
shares, the mean reward and pass rate over the first and last thirds, and
the peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--skip", type=int, default=1, help="warm-up steps left out of the split")
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


if __name__ == "__main__":
    main()
