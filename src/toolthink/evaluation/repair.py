"""``toolthink repair FILE.py --tests TESTS.py``: repair your own file with a model.

::

    toolthink repair buggy.py --tests test_buggy.py --model embedded --adapter runs/sft

The model plays Chain-of-Edits episodes on the file (``--samples`` of them,
constrained decoding, the same environment as evaluation). The tests are plain
Python run after the code in one module (``assert`` statements, as in
HumanEval; see `toolthink.tool.run_tests`), in the sandbox. Before any model
loads, the tests file is checked (`toolthink.evaluation.tests_file`): one that
does not compile, holds no ``assert``, or runs none against the buggy code is
a usage error naming the file. Each attempt's commands and test feedback are
printed to stderr as they happen (``-q``: only the result line), and every
episode is saved in ``FILE.repair.jsonl`` (replay: ``toolthink show``). The first attempt
whose final code passes the tests when run again in the sandbox is written to
``FILE.repaired.py`` beside the original. The original is never modified, and
no code is written when no attempt passes. An existing ``FILE.repaired.py`` is
refused before any attempt unless ``--overwrite`` is given; an existing
``FILE.repair.jsonl`` is replaced only when it is an earlier run's log.

Exit status: 0 repaired (``FILE.repaired.py`` written), 1 not repaired (no code
written), 2 usage error (missing file, bad option, a tests file that does not
compile or checks nothing, a folder that is no adapter, ``FILE.repaired.py``
exists without ``--overwrite``: said before any model is loaded), 3 the tests
already pass (nothing to repair, nothing written).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from toolthink.commands import adapter_folder_problem, non_negative_float
from toolthink.env import StepStatus
from toolthink.errors import ToolthinkError
from toolthink.evaluation.cli import add_device_arguments, check_device
from toolthink.evaluation.tests_file import run_problem, static_problem
from toolthink.jsonl import jsonl_text
from toolthink.models.deprecations import silence_upstream_deprecations
from toolthink.models.shipped import AUTO, adapter_help, resolve_adapter
from toolthink.progress import Heartbeat
from toolthink.tasks import Provenance, RepairTask
from toolthink.tool import SandboxPool, TestOutcome, decode_source

if TYPE_CHECKING:
    from toolthink.rollout.episodes import Turn

__all__ = [
    "EXIT_ALREADY_PASSES",
    "EXIT_NOT_REPAIRED",
    "EXIT_REPAIRED",
    "EXIT_USAGE",
    "Attempt",
    "RepairOutcome",
    "TurnPrinter",
    "UnusableTestsError",
    "log_path",
    "main",
    "make_parser",
    "model_attempt",
    "record_code",
    "repair_task",
    "repaired_path",
    "task_for",
]

logger = logging.getLogger(__name__)

EXIT_REPAIRED, EXIT_NOT_REPAIRED, EXIT_USAGE, EXIT_ALREADY_PASSES = 0, 1, 2, 3

_FEEDBACK_LINES = 4  # test feedback lines shown per turn; the log keeps all

Attempt = Callable[[RepairTask, int, SandboxPool, "Callable[[Turn], None]"], list[dict[str, Any]]]
"""``(task, samples, sandbox, on_turn) -> one episode record per attempt``.

Records are `toolthink show`'s (`toolthink.evaluation.records`); ``on_turn``
is called with each turn as it is played. The command line plays the model's
Chain-of-Edits episodes (`model_attempt`); tests inject other policies (an
oracle) through this seam.
"""


@attrs.frozen
class RepairOutcome:
    """What a repair run found.

    Attributes:
        already_passes: The original code passes the tests.
        code: The first candidate that passes the tests, or None.
        attempts: Candidates tried.
        records: Each attempt's episode record (`toolthink show` format).
    """

    already_passes: bool
    code: str | None
    attempts: int
    records: tuple[dict[str, Any], ...] = ()


class UnusableTestsError(ToolthinkError, ValueError):
    """The tests cannot judge a repair: they hold no test (no assert runs) or do not compile."""


def repaired_path(path: Path) -> Path:
    """``dir/name.py`` -> ``dir/name.repaired.py``."""
    return path.with_name(f"{path.stem}.repaired{path.suffix or '.py'}")


def log_path(path: Path) -> Path:
    """``dir/name.py`` -> ``dir/name.repair.jsonl``: the episodes of a repair run."""
    return path.with_name(f"{path.stem}.repair.jsonl")


def record_code(record: dict[str, Any]) -> str:
    """The code at the end of an episode record (its initial code when it has no turn)."""
    turns = record.get("turns") or []
    return str(turns[-1]["code"] if turns else record["initial_code"])


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
    timeout: float = 5.0, on_turn: Callable[[Turn], None] = lambda _: None,
) -> RepairOutcome:
    """Try to repair ``task``; every candidate is checked again in the sandbox.

    Args:
        task: The code and its tests.
        attempt: Makes ``samples`` episode records.
        samples: Attempts.
        sandbox: Runs the tests.
        timeout: Seconds per test run.
        on_turn: Sees each turn as it is played.

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
    records = attempt(task, samples, sandbox, on_turn)
    candidates = [c for c in map(record_code, records) if c != task.buggy_code]
    unique = list(dict.fromkeys(candidates))
    reports = sandbox.run_batch([(c, task.tests) for c in unique], timeout=timeout)
    code = next((c for c, r in zip(unique, reports, strict=True) if r.passed), None)
    return RepairOutcome(already_passes=False, code=code, attempts=len(candidates),
                         records=tuple(records))


def model_attempt(model_name: str, adapter: str | None, *, temperature: float,
                  max_turns: int, device: str = "auto", dtype: str = "auto",
                  on_load: Callable[[str], None] = lambda _: None) -> Attempt:
    """The `Attempt` of a model: its Chain-of-Edits episodes as `toolthink show` records.

    ``device`` and ``dtype`` are `toolthink.models.loader.load_model`'s specs;
    ``on_load`` hears what is loading (the slow step before the first turn).
    """

    def attempt(task: RepairTask, samples: int, sandbox: SandboxPool,
                on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
        from toolthink.env import EnvConfig  # noqa: PLC0415
        from toolthink.evaluation.records import episode_record  # noqa: PLC0415
        from toolthink.models.loader import load_model  # noqa: PLC0415
        from toolthink.rollout.episodes import RolloutConfig, run_episodes  # noqa: PLC0415

        on_load(f"loading model {model_name}" + (f" + {adapter}" if adapter else ""))
        model, tokenizer = load_model(model_name, adapter, device=device, dtype=dtype)
        on_load(f"playing {samples} attempt(s) of at most {max_turns} command(s) each")
        initial = sandbox.run(task.buggy_code, task.tests, timeout=5.0).feedback
        episodes = run_episodes(model, tokenizer, [task] * samples, sandbox=sandbox,
                                env_config=EnvConfig(max_turns=max_turns),
                                config=RolloutConfig(temperature=temperature), on_turn=on_turn)
        return [episode_record(task, e, sample=i, bug_kind=None, initial_feedback=initial)
                for i, e in enumerate(episodes)]

    return attempt


class TurnPrinter:
    """Writes each turn of each attempt as it happens: command, status, reward, test feedback.

    Args:
        write: Where lines go (stderr; the result line stays alone on stdout).
        log: The episodes file the full feedback is in, named when lines are cut.
    """

    def __init__(self, write: Callable[[str], object], log: Path) -> None:
        self.write, self.log = write, log

    def __call__(self, turn: Turn) -> None:
        """Write ``turn``'s lines (an episode's last turn says how it ended)."""
        info = turn.info
        lines = [f"attempt {turn.episode + 1}, turn {info.turn}: {turn.command}  "
                 f"[{info.status}, reward {turn.reward:+.1f}]"]
        feedback = turn.feedback.strip().splitlines()
        shown = feedback[:_FEEDBACK_LINES]
        lines += [f"    {line}" for line in shown]
        if len(feedback) > len(shown):
            lines.append(f"    ({len(feedback) - len(shown)} more line(s): toolthink show "
                         f"{self.log})")
        if turn.done:
            how = ("sent EXIT" if info.status is StepStatus.EXIT else
                   "hit the turn limit" if info.truncated else "ran out of tokens")
            verdict = "the tests pass" if info.passed else "the tests fail"
            lines.append(f"attempt {turn.episode + 1} ended: {how}; {verdict}")
        self.write("".join(f"{line}\n" for line in lines))


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


def _log_problem(log: Path) -> str | None:
    """Why the episodes log cannot be written to ``log``: it exists and is not an earlier log."""
    if not (log.exists() or log.is_symlink()):
        return None
    try:
        with log.open(encoding="utf-8") as f:
            first = json.loads(f.readline())
        ours = (isinstance(first, dict) and str(first.get("task_id", "")).startswith("user/")
                and "turns" in first)
    except (OSError, ValueError):
        ours = False
    if ours and log.is_file() and not log.is_symlink():
        return None
    return (f"{log} exists and is not an earlier repair's episodes log: move it away, the "
            "episodes are written there")


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink repair`` argument parser."""
    parser = argparse.ArgumentParser(prog="toolthink repair", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the Python file to repair (never modified)")
    parser.add_argument("--tests", required=True,
                        help="a Python file of asserts run after the code (plain, not pytest)")
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (default), a model folder or a cached hub id")
    parser.add_argument("--adapter", default=AUTO, help=adapter_help())
    parser.add_argument("--samples", type=int, default=4, help="episodes to try (default 4)")
    parser.add_argument("--temperature", type=non_negative_float,
                        help="sampling temperature (default: 0 for --samples 1, else 0.8)")
    parser.add_argument("--max-turns", type=int, default=10,
                        help="commands per episode (default 10)")
    parser.add_argument("--problem", default="", help="a sentence saying what the code should do")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing FILE.repaired.py (default: refuse, exit 2)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the result line (default: every attempt's commands "
                        "and test feedback as they happen, on stderr)")
    add_device_arguments(parser)
    return parser


def _usage_problem(args: argparse.Namespace, path: Path, tests_path: Path) -> str | None:
    """The first problem of the command line, checked before the sandbox starts."""
    for flag, file in (("FILE", path), ("--tests", tests_path)):
        if not file.is_file():
            return f"{flag} {file} is not a file"
    if args.samples < 1 or args.max_turns < 1:
        return "--samples and --max-turns must be >= 1"
    if args.adapter is not None and (problem := adapter_folder_problem("--adapter",
                                                                       args.adapter)):
        return problem
    return (_target_problem(repaired_path(path), overwrite=args.overwrite)
            or _log_problem(log_path(path)))


def main(argv: Sequence[str] | None = None, *, attempt: Attempt | None = None) -> int:
    """Run ``toolthink repair``; returns the exit status (see the module docstring).

    Args:
        argv: Command-line arguments.
        attempt: Replaces the model's episodes (a seam for tests); None plays the model.
    """
    args = make_parser().parse_args(argv)
    args.adapter = resolve_adapter(args.model, args.adapter)
    path, tests_path = Path(args.file), Path(args.tests)
    problem = _usage_problem(args, path, tests_path)
    if problem is not None:
        sys.stderr.write(f"toolthink repair: {problem}\n")
        return EXIT_USAGE
    temperature = args.temperature if args.temperature is not None else (
        0.0 if args.samples == 1 else 0.8)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    silence_upstream_deprecations()
    target, log = repaired_path(path), log_path(path)
    status = ["checking the tests"]
    beat = Heartbeat((lambda _: None) if args.quiet else sys.stderr.write,
                     lambda: f"repair: still {status[-1]} ({beat.elapsed():.0f} s)")

    def note(line: str) -> None:
        status.append(line)
        beat.say(f"{line}\n")

    try:
        task = task_for(path, tests_path, args.problem)
        problem = static_problem(task.tests, str(tests_path))
        if problem is not None:  # read from the file alone: no sandbox, no model
            sys.stderr.write(f"toolthink repair: {problem}\n")
            return EXIT_USAGE
        if attempt is None:
            check_device(args)  # before the sandbox starts: CUDA asked for and missing
            attempt = model_attempt(args.model, args.adapter, temperature=temperature,
                                    max_turns=args.max_turns, device=args.device,
                                    dtype=args.dtype, on_load=note)
        with SandboxPool() as pool, beat:
            problem = run_problem(task.buggy_code, task.tests, str(tests_path), pool,
                                  timeout=5.0)
            if problem is not None:
                sys.stderr.write(f"toolthink repair: {problem}\n")
                return EXIT_USAGE
            status.append("running the tests on the buggy code")
            outcome = repair_task(task, _announced(attempt, note), samples=args.samples,
                                  sandbox=pool, on_turn=TurnPrinter(beat.say, log))
    except UnusableTestsError as e:
        sys.stderr.write(f"toolthink repair: --tests {tests_path} {e}\n")
        return EXIT_USAGE
    except ToolthinkError as e:
        sys.stderr.write(f"toolthink repair: {e}\n")
        return EXIT_USAGE
    if outcome.already_passes:
        sys.stdout.write(f"{path}: the tests already pass; nothing to repair, nothing written\n")
        return EXIT_ALREADY_PASSES
    _write_beside(log, jsonl_text(outcome.records))
    if outcome.code is None:
        sys.stdout.write(f"{path}: not repaired ({outcome.attempts} attempt(s) failed the "
                         f"tests); no code written, {path.name} unchanged; episodes: "
                         f"toolthink show {log}\n")
        return EXIT_NOT_REPAIRED
    _write_beside(target, outcome.code)
    sys.stdout.write(f"{path}: repaired; wrote {target} (the tests pass in the sandbox), "
                     f"{path.name} unchanged; episodes: toolthink show {log}\n")
    return EXIT_REPAIRED


def _announced(attempt: Attempt, note: Callable[[str], None]) -> Attempt:
    """``attempt``, preceded by a line saying the tests fail and the attempts start."""

    def run(task: RepairTask, samples: int, sandbox: SandboxPool,
            on_turn: Callable[[Turn], None]) -> list[dict[str, Any]]:
        note(f"the tests fail on {task.provenance.item}: trying {samples} attempt(s)")
        return attempt(task, samples, sandbox, on_turn)

    return run


if __name__ == "__main__":  # python -m toolthink.evaluation.repair
    sys.exit(main())
