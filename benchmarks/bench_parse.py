"""Parse speed of the command language.

Usage: OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_parse.py [--commands 10000] [--repeat 5]

Prints commands per second and microseconds per command for one program of N
commands (all five kinds, REPW texts with spaces and '>') and for single
commands through `parse_command`. Floor (issue 2): 20,000 commands/s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from toolthink.dsl import parse, parse_command

SAMPLES = [
    "ADDL {n} >>>    if n < 0:",
    "REPL {n} >>>        return -n  # >>> kept",
    "REPW {n} >>>a > b >>>a >= b",
    "DELL {n}",
    "EXIT",
]


def make_program(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(SAMPLES).format(n=rng.randint(1, 500)) for _ in range(count)]


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--commands", type=int, default=10_000)
    cli.add_argument("--repeat", type=int, default=5)
    args = cli.parse_args()

    lines = make_program(args.commands)
    text = "\n".join(lines) + "\n"
    parse(text)  # builds the parser once (lark grammar analysis)

    program_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        parse(text)
        program_times.append(time.perf_counter() - t0)
    best = min(program_times)
    print(f"program of {args.commands} commands: best {best * 1e3:.1f} ms, "
          f"median {statistics.median(program_times) * 1e3:.1f} ms over {args.repeat} runs")
    print(f"  {args.commands / best:,.0f} commands/s, {best / args.commands * 1e6:.2f} us/command")

    singles = lines[:2_000]
    single_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for line in singles:
            parse_command(line)
        single_times.append(time.perf_counter() - t0)
    best = min(single_times)
    print(f"single commands (parse_command) x {len(singles)}: "
          f"{len(singles) / best:,.0f} commands/s, {best / len(singles) * 1e6:.2f} us/command")


if __name__ == "__main__":
    main()
