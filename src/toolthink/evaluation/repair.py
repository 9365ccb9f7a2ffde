"""``toolthink repair FILE.py --tests TESTS.py``: repair your own file with a model.

::

    toolthink repair buggy.py --tests test_buggy.py --model embedded --adapter runs/sft

The model plays Chain-of-Edits episodes on the file (``--samples`` of them,
constrained decoding, the same environment as evaluation). The tests are plain
Python run after the code in one module (``assert`` statements, as in
HumanEval; see `toolthink.tool.run_tests`), in the sandbox. The first attempt
whose final code passes the tests when run again in the sandbox is written to
``FILE.repaired.py`` beside the original. The original is never modified, and
nothing is written when no attempt passes. An existing ``FILE.repaired.py`` is
refused before any attempt unless ``--overwrite`` is given.

Exit status: 0 repaired (``FILE.repaired.py`` written), 1 not repaired (nothing
written), 2 usage error (missing file, bad option, ``FILE.repaired.py`` exists
without ``--overwrite``, a tests file that holds no tests or does not compile:
said before any model is loaded), 3 the tests already pass (nothing to repair,
nothing written).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from toolthink.commands import non_negative_float
from toolthink.errors import ToolthinkError
from toolthink.evaluation.cli import add_device_arguments, check_device
from toolthink.tasks import Provenance, RepairTask
from toolthink.tool import SandboxPool, TestOutcome, decode_source

__all__ = [
    "EXIT_ALREADY_PASSES",
    "EXIT_NOT_REPAIRED",
    "EXIT_REPAIRED",
    "EXIT_USAGE",
    "Attempt",
    "RepairOutcome",
    "UnusableTestsError",
    "main",
    "make_parser",
    "model_attempt",
    "repair_task",
    "repaired_path",
    "task_for",
]

logger = logging.getLogger(__name__)

EXIT_REPAIRED, EXIT_NOT_REPAIRED, EXIT_USAGE, EXIT_ALREADY_PASSES = 0, 1, 2, 3

Attempt = Callable[[RepairTask, int, SandboxPool], list[str]]
"""``(task, samples, sandbox) -> final code per attempt``: how candidates are made.

The command line plays the model's Chain-of-Edits episodes
(`model_attempt`); tests inject other policies (an oracle) through this seam.
"""


@attrs.frozen
class RepairOutcome:
    """What a repair run found.

    Attributes:
        already_passes: The original code passes the tests.
        code: The first candidate that passes the tests, or None.
        attempts: Candidates tried.
    """

    already_passes: bool
    code: str | None
    attempts: int


class UnusableTestsError(ToolthinkError, ValueError):
    """The tests cannot judge a repair: they hold no test (no assert runs) or do not compile."""


def repaired_path(path: Path) -> Path:
    """``dir/name.py`` -> ``dir/name.repaired.py``."""
    return path.with_name(f"{path.stem}.repaired{path.suffix or '.py'}")


def task_for(path: Path, tests_path: Path, problem: str = "") -> RepairTask:
    """The repair task of making ``path`` pass ``tests_path`` (both read as UTF-8)."""
    code = decode_source(path.read_bytes())
    tests = decode_source(tests_path.read_bytes())
    return RepairTask(
        task_id=f"user/{path.name}", problem=problem, buggy_code=code, tests=tests,
        entry_point="", reference=None,
        provenance=Provenance("user", path.name, "unknown", str(path)),
    )


def repair_task(
    task: RepairTask, attempt: Attempt, *, samples: int, sandbox: SandboxPool,
    timeout: float = 5.0,
) -> RepairOutcome:
    """Try to repair ``task``; every candidate is checked again in the sandbox.

    Args:
        task: The code and its tests.
        attempt: Makes ``samples`` candidate programs.
        samples: Attempts.
        sandbox: Runs the tests.
        timeout: Seconds per test run.

    Raises:
        UnusableTestsError: The tests hold no test or do not compile (found by
            the first run, before any attempt).
    """
    first = sandbox.run(task.buggy_code, task.tests, timeout=timeout)
    if first.outcome is TestOutcome.NO_ASSERTIONS:
        msg = f"holds no tests ({first.details}); write assert statements the code must pass"
        raise UnusableTestsError(msg)
    if first.outcome is TestOutcome.BAD_TESTS:
        msg = f"does not compile ({first.details})"
        raise UnusableTestsError(msg)
    if first.passed:
        return RepairOutcome(already_passes=True, code=None, attempts=0)
    candidates = [c for c in attempt(task, samples, sandbox) if c != task.buggy_code]
    unique = list(dict.fromkeys(candidates))
    reports = sandbox.run_batch([(c, task.tests) for c in unique], timeout=timeout)
    code = next((c for c, r in zip(unique, reports, strict=True) if r.passed), None)
    return RepairOutcome(already_passes=False, code=code, attempts=len(candidates))


def model_attempt(model_name: str, adapter: str | None, *, temperature: float,
                  max_turns: int, device: str = "auto", dtype: str = "auto") -> Attempt:
    """The `Attempt` of a model: its Chain-of-Edits episodes' final code.

    ``device`` and ``dtype`` are `toolthink.models.loader.load_model`'s specs.
    """

    def attempt(task: RepairTask, samples: int, sandbox: SandboxPool) -> list[str]:
        from toolthink.env import EnvConfig  # noqa: PLC0415
        from toolthink.evaluation.records import final_code  # noqa: PLC0415
        from toolthink.models.loader import load_model  # noqa: PLC0415
        from toolthink.rollout.episodes import RolloutConfig, run_episodes  # noqa: PLC0415

        model, tokenizer = load_model(model_name, adapter, device=device, dtype=dtype)
        episodes = run_episodes(model, tokenizer, [task] * samples, sandbox=sandbox,
                                env_config=EnvConfig(max_turns=max_turns),
                                config=RolloutConfig(temperature=temperature))
        return [final_code(task, e) for e in episodes]

    return attempt


def _write_beside(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _target_problem(target: Path, *, overwrite: bool) -> str | None:
    """Why the repaired file cannot be written to ``target``, or None when it can."""
    if target.is_dir():
        return f"{target} is a folder: move it away, the repaired file is written there"
    if (target.exists() or target.is_symlink()) and not overwrite:  # a dangling link too
        return (f"{target} exists (from an earlier repair?): pass --overwrite to replace it, or "
                "move it away")
    return None


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink repair`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink repair", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the Python file to repair (never modified)")
    parser.add_argument("--tests", required=True,
                        help="a Python file of asserts run after the code (plain, not pytest)")
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (default), a model folder or a cached hub id")
    parser.add_argument("--adapter", help="a peft adapter folder (SFT or RL output)")
    parser.add_argument("--samples", type=int, default=4, help="episodes to try (default 4)")
    parser.add_argument("--temperature", type=non_negative_float,
                        help="sampling temperature (default: 0 for --samples 1, else 0.8)")
    parser.add_argument("--max-turns", type=int, default=10, help="commands per episode")
    parser.add_argument("--problem", default="", help="a sentence saying what the code should do")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing FILE.repaired.py (default: refuse, exit 2)")
    add_device_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, attempt: Attempt | None = None) -> int:
    """Run ``toolthink repair``; returns the exit status (see the module docstring).

    Args:
        argv: Command-line arguments.
        attempt: Replaces the model's episodes (a seam for tests); None plays the model.
    """
    args = make_parser().parse_args(argv)
    path, tests_path = Path(args.file), Path(args.tests)
    for flag, file in (("FILE", path), ("--tests", tests_path)):
        if not file.is_file():
            sys.stderr.write(f"toolthink repair: {flag} {file} is not a file\n")
            return EXIT_USAGE
    if args.samples < 1 or args.max_turns < 1:
        sys.stderr.write("toolthink repair: --samples and --max-turns must be >= 1\n")
        return EXIT_USAGE
    temperature = args.temperature if args.temperature is not None else (
        0.0 if args.samples == 1 else 0.8)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    target = repaired_path(path)
    problem = _target_problem(target, overwrite=args.overwrite)
    if problem is not None:
        sys.stderr.write(f"toolthink repair: {problem}\n")
        return EXIT_USAGE
    try:
        task = task_for(path, tests_path, args.problem)
        if attempt is None:
            check_device(args)  # before the sandbox starts: CUDA asked for and missing
            attempt = model_attempt(args.model, args.adapter, temperature=temperature,
                                    max_turns=args.max_turns, device=args.device,
                                    dtype=args.dtype)
        with SandboxPool() as pool:
            outcome = repair_task(task, attempt, samples=args.samples, sandbox=pool)
    except UnusableTestsError as e:
        sys.stderr.write(f"toolthink repair: --tests {tests_path} {e}\n")
        return EXIT_USAGE
    except ToolthinkError as e:
        sys.stderr.write(f"toolthink repair: {e}\n")
        return EXIT_USAGE
    if outcome.already_passes:
        sys.stdout.write(f"{path}: the tests already pass; nothing to repair, nothing written\n")
        return EXIT_ALREADY_PASSES
    if outcome.code is None:
        sys.stdout.write(f"{path}: not repaired ({outcome.attempts} attempt(s) failed the "
                         f"tests); nothing written, {path.name} unchanged\n")
        return EXIT_NOT_REPAIRED
    _write_beside(target, outcome.code)
    sys.stdout.write(f"{path}: repaired; wrote {target} (the tests pass in the sandbox), "
                     f"{path.name} unchanged\n")
    return EXIT_REPAIRED


if __name__ == "__main__":  # python -m toolthink.evaluation.repair
    sys.exit(main())
