"""Stages of a long job: each a command run in its own process, each resumable.

A `Stage` is one toolthink command (``python -m MODULE ARGV``, the command a
user would type, printed before it runs) that writes into its own folder.
`run_stages` runs them in order and stops at the first that fails. With
``resume=True`` (``toolthink study``):

- a stage whose folder holds the completion file `DONE_FILE`, written after
  the command exited 0 and recording its argv, is skipped: its outputs are
  reused. If it was finished with another argv, the run stops with
  `StageMismatchError` rather than mix settings;
- a stage whose folder exists without that file was interrupted: a trainer
  (``resumable``) gets ``--resume_from_checkpoint true`` when the folder holds
  a ``checkpoint-N`` (transformers resumes from the last one), an evaluation
  runs the same command again and resumes from the journal of attempts it
  keeps in its folder (`toolthink.evaluation.journal`), and a data stage
  runs again from the start (it writes its files only at the end).

With ``resume=False`` (``toolthink demo``) every stage runs.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import os
import selectors
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from toolthink.errors import ToolthinkError
from toolthink.progress import HEARTBEAT_SECONDS

__all__ = ["COMMAND_NAMES", "CPU_TRAINER_FLAGS", "DONE_FILE", "GROUP_KEYS", "OPTIMIZER_KEYS",
           "Stage", "StageMismatchError", "config_flags", "data_dir_problem", "job_environment",
           "rl_group_flags", "run_process", "run_stages", "trainer_flags"]

log = logging.getLogger("toolthink.stages")

DONE_FILE = "toolthink_stage_done.json"
"""The completion file in a finished stage's folder (argv, seconds, date)."""

COMMAND_NAMES = {"toolthink.data.cli": "toolthink data",
                 "toolthink.training.sft_cli": "toolthink-train sft",
                 "toolthink.training.rl_cli": "toolthink-train rl",
                 "toolthink.evaluation.cli": "toolthink eval"}
"""How a stage's module is typed as a command (for the printed line)."""

RESUME_FLAGS = ("--resume_from_checkpoint", "true")

CPU_TRAINER_FLAGS = ("--use_cpu", "true", "--report_to", "none", "--logging_steps", "1")
"""The trainers' CPU flags of the jobs (``toolthink demo``, ``toolthink study``); bf16 is
left to the trainers' policy (`toolthink.models.devices`: on where the CPU computes it)."""

OPTIMIZER_KEYS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay")
"""The optimizer settings a job takes from the shipped CPU configs."""

GROUP_KEYS = ("max_new_tokens_per_turn", "num_generations", "per_device_train_batch_size")
"""The shape of an RL step a job takes from configs/rl_cpu.yaml: tokens per command,
completions per group, completions per device batch (one group a step)."""


@functools.cache
def config_flags(config: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Settings of a shipped trainer config, as the trainer's flags.

    The configs ship in the wheel (``toolthink/configs``) and are read with
    `importlib.resources`; each value is the YAML's own text (``2.0e-4``), so a
    job's command line is the file's (and a finished stage's recorded argv
    stays equal to the next run's, `Stage.finished`).

    Args:
        config: The file name, e.g. ``"sft_cpu.yaml"``.
        keys: The settings to take.

    Returns:
        ``("--learning_rate", "2.0e-4", ...)`` for the ``keys`` the file sets,
        in the file's order.
    """
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 (TRL's dependency)

    text = (resources.files("toolthink") / "configs" / config).read_text(encoding="utf-8")
    flags: list[str] = []
    for key, value in yaml.compose(text).value:  # the nodes keep each value's text
        if key.value in keys:
            flags += [f"--{key.value}", str(value.value)]
    return tuple(flags)


def rl_group_flags() -> tuple[str, ...]:
    """configs/rl_cpu.yaml's shape of an RL step (`GROUP_KEYS`), as the RL trainer's flags."""
    return config_flags("rl_cpu.yaml", GROUP_KEYS)


def trainer_flags(config: str) -> tuple[str, ...]:
    """The flags a job ends a trainer's command with, from the trainer's shipped CPU config.

    `CPU_TRAINER_FLAGS`, then the config's optimizer (`OPTIMIZER_KEYS`: TRL's
    own defaults, 2e-5 for SFT and 1e-6 for GRPO, barely move a LoRA in a few
    steps) and its ``activation_checkpointing`` (configs/rl_cpu.yaml's on:
    GRPO's peak memory was 5.3 GiB with it, 13.0 without, docs/rl.md), in the
    file's order.

    Args:
        config: ``"sft_cpu.yaml"`` or ``"rl_cpu.yaml"``.
    """
    return (*CPU_TRAINER_FLAGS,
            *config_flags(config, (*OPTIMIZER_KEYS, "activation_checkpointing")))


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


class StageMismatchError(ToolthinkError, ValueError):
    """A stage's folder was finished with other settings than this run's."""


@attrs.frozen
class Stage:
    """One command of a job.

    Attributes:
        title: What it does, for the log.
        module: The module run as ``python -m module *argv`` (its ``main(argv)``).
        argv: The command's arguments.
        folder: The folder it writes into (holds `DONE_FILE` when finished).
        resumable: A trainer that resumes from ``checkpoint-N`` in ``folder``.
    """

    title: str
    module: str
    argv: tuple[str, ...] = attrs.field(converter=_strings)
    folder: Path = attrs.field(converter=Path)
    resumable: bool = False

    def command(self, argv: Sequence[str] | None = None) -> str:
        """The command line a user would type (with ``argv``, default: the stage's)."""
        name = COMMAND_NAMES.get(self.module, f"python -m {self.module}")
        return f"{name} {shlex.join(self.argv if argv is None else argv)}"

    def finished(self) -> bool:
        """Whether the folder holds the completion file.

        Raises:
            StageMismatchError: It does, written for another argv.
        """
        done = self.folder / DONE_FILE
        if not done.is_file():
            return False
        recorded = json.loads(done.read_text(encoding="utf-8")).get("argv")
        if recorded != list(self.argv):
            msg = (f"{self.folder} was finished by another command ({shlex.join(recorded or [])})"
                   f" than this run's ({shlex.join(self.argv)}): use another --out, or delete "
                   f"{self.folder} to redo the stage")
            raise StageMismatchError(msg)
        return True

    def resume_argv(self) -> tuple[str, ...]:
        """The argv to run now: with the resume flags if a trainer left a checkpoint."""
        if self.resumable and any(self.folder.glob("checkpoint-*")):
            return (*self.argv, *RESUME_FLAGS)
        return self.argv

    def mark_done(self, seconds: float) -> None:
        """Write the completion file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"argv": list(self.argv), "seconds": round(seconds, 1),
                  "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        (self.folder / DONE_FILE).write_text(json.dumps(record, indent=2) + "\n",
                                             encoding="utf-8")


def run_process(argv: list[str], label: str) -> int:
    """Run one stage's process, passing its output through, with a line after 30 s of silence.

    The stage's output comes through a pipe so the job can tell silence from
    work (issue 17: a progress line at least every 30 s on every stage);
    ``PYTHONUNBUFFERED`` keeps its lines from waiting in a buffer.

    Args:
        argv: The process's command line.
        label: Names the stage in the "still running" line.

    Returns:
        The process's exit status.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = last = time.monotonic()
    sink = sys.stdout.buffer
    with (subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env) as process, selectors.DefaultSelector() as selector):
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            if selector.select(timeout=max(last + HEARTBEAT_SECONDS - time.monotonic(), 0.1)):
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                sink.write(chunk)
                sink.flush()
                last = time.monotonic()
            elif time.monotonic() - last >= HEARTBEAT_SECONDS:
                now = time.monotonic()
                sink.write(f"{label}: still running ({now - started:.0f} s in this stage, "
                           f"{now - last:.0f} s without output)\n".encode())
                sink.flush()
                last = now
    return process.wait()


def _subprocess(stage: Stage, argv: Sequence[str], label: str) -> int:
    # Each stage in its own process, as a user would run it: a stage's memory
    # (RL's autograd graph peaks at several GiB) goes back to the system when
    # it ends instead of staying with the next stage.
    return run_process([sys.executable, "-m", stage.module, *argv], label)


def run_stages(
    plan: Sequence[Stage], *, resume: bool,
    runner: Callable[[Stage, Sequence[str], str], int] = _subprocess,
    ran: list[dict[str, Any]] | None = None,
) -> int:
    """Run ``plan`` in order; returns 0, or the exit status of the first stage that failed.

    Args:
        plan: The stages.
        resume: Skip finished stages and resume interrupted trainers (module
            docstring); False runs every stage from the start.
        runner: Runs one stage with an argv and a label for progress lines and
            returns its exit status (default: a subprocess; tests pass their own).
        ran: When given, gets ``{"stage", "command", "seconds", "status"}`` for
            every stage run (not for finished ones reused).

    Raises:
        StageMismatchError: With ``resume``, a stage's folder was finished by
            another command.
    """
    for number, stage in enumerate(plan, 1):
        if resume and stage.finished():
            log.info("\n[%d/%d] %s: finished earlier, reusing %s", number, len(plan),
                     stage.title, stage.folder)
            continue
        argv = stage.resume_argv() if resume else stage.argv
        again = " (resuming from its last checkpoint)" if argv != stage.argv else ""
        log.info("\n[%d/%d] %s%s\n$ %s", number, len(plan), stage.title, again,
                 stage.command(argv))
        started = time.perf_counter()
        status = runner(stage, argv, f"[{number}/{len(plan)}] {stage.title}")
        if ran is not None:
            ran.append({"stage": stage.title, "command": stage.command(argv),
                        "seconds": time.perf_counter() - started, "status": status})
        if status:
            log.error("stage %r failed with status %d", stage.title, status)
            return status
        stage.mark_done(time.perf_counter() - started)
    return 0


def job_environment() -> None:
    """Set a job's defaults in the environment its stages inherit (the user's values win).

    Passive OpenMP threads (spinning ones run ~10x slower on shared cores,
    FIELD-NOTES), no hub access (models come from local caches), and TRL's
    experimental-API warning silenced.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def data_dir_problem(data_dir: str | None) -> str | None:
    """Why a job's ``--data-dir`` cannot be read, or None (checked before minutes of training)."""
    if data_dir is not None and not Path(data_dir).is_dir():
        return (f"--data-dir {data_dir} is not a folder: point it at the benchmark folder "
                "(the layout of ../shared/data), or leave it out to use the embedded corpus only")
    return None
