"""Speed of one editor step: apply a command, check validity, render the state.

Usage: OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_editor.py \
       [--lines 50 500] [--iterations 3000] [--warmup 300]

For each program size, times `execute` of one REPW (toggling ``+=`` and ``-=``
in the middle of a program of plain functions), then `CodeEditor.validity`
(CPython's `compile`), then `render`, and prints p50 and p99 in microseconds
for the whole step and for each part. Each timed step makes a fresh snapshot,
so validity is never served from the cache; the step is undone, untimed,
afterwards. Target (issue 3): at most 1,000 us p50 for 50 lines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from toolthink.dsl import ReplaceText, execute
from toolthink.tool import CodeEditor, render

FUNCTION = '''\
def func_{k}(xs, n):
    """Sum the items above n, weighted by position."""
    total = 0
    for i, x in enumerate(xs):
        if x > n:
            total += x * i
        else:
            total -= n
    return total

'''


def make_program(lines: int) -> str:
    """A valid program of exactly ``lines`` lines: functions, then assignments."""
    text = "".join(FUNCTION.format(k=k) for k in range(lines // 10))
    count = text.count("\n")
    return text + "".join(f"v{i} = {i}\n" for i in range(lines - count))


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ``samples``, by the nearest-rank method."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def bench(lines: int, iterations: int, warmup: int) -> dict[str, list[float]]:
    """Time ``iterations`` steps on a program of ``lines`` lines; microseconds per part."""
    editor = CodeEditor(make_program(lines))
    target = next(
        n for n in range(editor.line_count // 2, 0, -1) if "total += x * i" in editor.line(n)
    )
    commands = [ReplaceText(target, "+=", "-="), ReplaceText(target, "-=", "+=")]
    times: dict[str, list[float]] = {"apply": [], "validate": [], "render": [], "step": []}
    clock = time.perf_counter_ns
    for i in range(warmup + iterations):
        t0 = clock()
        outcome = execute(commands[0], editor)
        t1 = clock()
        validity = editor.validity
        t2 = clock()
        render(editor, "1 test failed")
        t3 = clock()
        assert outcome.ok, outcome
        assert validity.ok, validity
        editor.undo()
        if i >= warmup:
            times["apply"].append((t1 - t0) / 1e3)
            times["validate"].append((t2 - t1) / 1e3)
            times["render"].append((t3 - t2) / 1e3)
            times["step"].append((t3 - t0) / 1e3)
    return times


def make_parser() -> argparse.ArgumentParser:
    """Build the benchmark's argument parser."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--lines", type=int, nargs="+", default=[50, 500],
                     help="program sizes, in lines")
    cli.add_argument("--iterations", type=int, default=3000, help="timed steps per size")
    cli.add_argument("--warmup", type=int, default=300, help="untimed steps first")
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    print(f"{'lines':>6} {'part':>9} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}")
    for lines in args.lines:
        times = bench(lines, args.iterations, args.warmup)
        for part in ("step", "apply", "validate", "render"):
            samples = times[part]
            print(f"{lines:>6} {part:>9} {percentile(samples, 50):>9.1f} "
                  f"{percentile(samples, 99):>9.1f} {statistics.fmean(samples):>9.1f}")


if __name__ == "__main__":
    main()
