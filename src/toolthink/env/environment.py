"""`RepairEnv`: reset with a task, step with the model's text, read rewards.

Rewards follow the paper (Rainone et al., arXiv 2507.05065, section 4.2):
+1.0 on the turn where the code first passes all tests; -0.5 for a malformed
command (it does not parse: the code stays, the observation shows the error);
-0.5 when the episode ends without ``EXIT``; at most 10 turns. toolthink adds
two documented choices, each a field of `EnvConfig`:

* a command that parses but cannot be applied (a line out of range, ``REPW``
  text not on the line) costs ``rejected_penalty`` (-0.5 by default, as a
  malformed command: both are turns the tool could not carry out);
* ``shaping`` (off by default): a dense term, ``shaping`` times the change in
  the fraction of failing-test reports cleared, an extension outside the paper.

`step_all` steps many environments at once, running their tests in one batch
on a shared `toolthink.tool.SandboxPool`; `RepairEnv.step` is the one-env case.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs

from toolthink.dsl import DslSyntaxError, execute, format_command, parse_command
from toolthink.env.prompt import PROMPT_VERSION, SYSTEM_PROMPT, task_message
from toolthink.errors import ToolthinkError
from toolthink.tasks import RepairTask
from toolthink.tool import (
    CodeEditor,
    RenderConfig,
    SandboxPool,
    TestReport,
    feedback_text,
    render,
)
from toolthink.validators import positive_int

__all__ = ["EnvConfig", "EnvError", "Observation", "RepairEnv", "StepInfo", "StepStatus",
           "step_all"]


class EnvError(ToolthinkError, RuntimeError):
    """The environment was used out of order (step before reset, after done)."""


@attrs.frozen
class EnvConfig:
    """How episodes run and are rewarded (defaults: the paper's).

    Attributes:
        max_turns: Commands per episode before it is cut (paper: 10).
        fix_reward: Reward on the turn the code first passes all tests.
        malformed_penalty: Reward of a command that does not parse.
        rejected_penalty: Reward of a command that parses but cannot be applied.
        no_exit_penalty: Added when the episode ends without ``EXIT``.
        shaping: Weight of the dense shaping term (0 = off; an extension).
        timeout: Wall-clock limit of one test run, seconds.
        max_test_chars: Test text shown in the prompt, characters (0 hides it).
        render: How states are rendered (window size for long files).
    """

    max_turns: int = attrs.field(default=10, validator=positive_int)
    fix_reward: float = 1.0
    malformed_penalty: float = -0.5
    rejected_penalty: float = -0.5
    no_exit_penalty: float = -0.5
    shaping: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0.0))
    max_test_chars: int = 2_000
    render: RenderConfig = attrs.field(factory=RenderConfig)


@attrs.frozen
class Observation:
    """What the model reads next.

    Attributes:
        text: The message text: after `RepairEnv.reset` the first user message
            (problem, tests, initial state); after a step the rendered state.
        system: The system message (set after reset only).
        prompt_version: `toolthink.env.prompt.PROMPT_VERSION`.
        code: The code after the step (after reset: the buggy code), whole
            (``text`` may show a window of it).
        feedback: The test report as the state shows it below its ``***``
            line: the compile error, if any, then the tests' feedback (or
            the message of a malformed or rejected command).
    """

    text: str
    system: str | None = None
    prompt_version: str = PROMPT_VERSION
    code: str = ""
    feedback: str = ""


class StepStatus(enum.StrEnum):
    """What became of a turn's command (the ``status`` of `StepInfo` and of JSONL records)."""

    APPLIED = "applied"
    """It parsed and changed the code (or left it as it was); the tests ran."""
    REJECTED = "rejected"
    """It parsed but could not be applied (a line out of range...); the code is unchanged."""
    MALFORMED = "malformed"
    """It does not parse; the code is unchanged."""
    EXIT = "exit"
    """``EXIT``: the episode is over."""


@attrs.frozen
class StepInfo:
    """What training and evaluation log after each step.

    Attributes:
        turn: 1-based index of the step.
        status: What became of the command (`StepStatus`; its value in JSON).
        passed: Whether the code passes all tests now.
        solved: Whether it has passed at any turn so far.
        failures: Failing tests reported by the last run (0 when passing).
        malformed: Malformed commands so far.
        rejected: Rejected commands so far.
        truncated: The episode was cut at ``max_turns`` without ``EXIT``.
        command: The command's canonical text, or None when it did not parse.
    """

    turn: int
    status: StepStatus
    passed: bool
    solved: bool
    failures: int
    malformed: int
    rejected: int
    truncated: bool
    command: str | None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (gym's ``info``)."""
        return attrs.asdict(self)


@attrs.define
class _Pending:
    """A step whose tests still have to run (see `step_all`)."""

    status: StepStatus
    command: str | None
    message: str
    needs_run: bool


class RepairEnv:
    """A repair episode: the editor, the interpreter and the sandbox.

    Args:
        config: Episode and reward settings; `EnvConfig()` when None.
        sandbox: The pool that runs tests; shared pools suit batched rollouts.
            When None, the environment opens its own on first use and closes it
            in `close`.
    """

    def __init__(self, config: EnvConfig | None = None, *, sandbox: SandboxPool | None = None):
        self.config = config or EnvConfig()
        self._sandbox = sandbox
        self._owns_sandbox = sandbox is None
        self.task: RepairTask | None = None
        self.editor: CodeEditor | None = None
        self.report: TestReport | None = None
        self.turn = 0
        self.done = True
        self.solved = False
        self.malformed = 0
        self.rejected = 0
        self.total_reward = 0.0

    @property
    def sandbox(self) -> SandboxPool:
        """The pool that runs this environment's tests."""
        if self._sandbox is None:
            self._sandbox = SandboxPool()
        return self._sandbox

    def reset(self, task: RepairTask) -> Observation:
        """Start an episode on ``task``; runs its tests once on the buggy code.

        Returns:
            The system message and first user message (`Observation`).
        """
        report = self.sandbox.run(task.buggy_code, task.tests, timeout=self.config.timeout)
        return self.reset_with_report(task, report)

    def reset_with_report(self, task: RepairTask, report: TestReport) -> Observation:
        """Start an episode whose buggy code's test report is already known.

        Saves one sandbox run when many episodes start at once (their first
        runs batched by the caller). ``report`` must be the report of
        ``task.buggy_code`` against ``task.tests``.
        """
        self.task, self.editor, self.report = task, CodeEditor(task.buggy_code), report
        self.turn, self.done, self.solved = 0, False, report.passed
        self.malformed = self.rejected = 0
        self.total_reward = 0.0
        state = render(self.editor, report.feedback, config=self.config.render)
        text = task_message(task.problem, task.tests, state,
                            max_test_chars=self.config.max_test_chars)
        return Observation(text=text, system=SYSTEM_PROMPT, code=self.editor.source,
                           feedback=feedback_text(self.editor, report.feedback))

    def step(self, text: str) -> tuple[Observation, float, bool, StepInfo]:
        """Apply the model's text as one command, run the tests, and score the turn.

        Args:
            text: The model's completion for this turn (one command; a final
                line break is allowed).

        Returns:
            ``(observation, reward, done, info)`` as in gym.

        Raises:
            EnvError: `reset` was not called, or the episode is over.
        """
        return step_all([self], [text])[0]

    def _begin(self, text: str) -> _Pending:
        if self.editor is None or self.done:
            msg = "step() needs an active episode: call reset(task) first (or after done)"
            raise EnvError(msg)
        self.turn += 1
        try:
            command = parse_command(text)
        except DslSyntaxError as e:
            self.malformed += 1
            return _Pending(StepStatus.MALFORMED, None, f"{e}\n(the code is unchanged)",
                            needs_run=False)
        outcome = execute(command, self.editor)
        canonical = format_command(command)
        if not outcome.ok:
            self.rejected += 1
            return _Pending(StepStatus.REJECTED, canonical,
                            f"{outcome.message}\n(the code is unchanged)", needs_run=False)
        if outcome.exited:
            return _Pending(StepStatus.EXIT, canonical, "EXIT: the episode is over",
                            needs_run=False)
        return _Pending(StepStatus.APPLIED, canonical, "", needs_run=True)

    def _finish(self, pending: _Pending, report: TestReport | None) -> tuple[
        Observation, float, bool, StepInfo
    ]:
        assert self.editor is not None
        config = self.config
        reward = 0.0
        before = self.report
        if report is not None:
            self.report = report
        assert self.report is not None
        if pending.status is StepStatus.MALFORMED:
            reward += config.malformed_penalty
        elif pending.status is StepStatus.REJECTED:
            reward += config.rejected_penalty
        if self.report.passed and not self.solved:
            self.solved = True
            reward += config.fix_reward
        if config.shaping and before is not None and report is not None:
            reward += config.shaping * (_failure_count(before) - _failure_count(report)) / max(
                _failure_count(before), 1
            )
        exited = pending.status is StepStatus.EXIT
        truncated = not exited and self.turn >= config.max_turns
        if truncated:
            reward += config.no_exit_penalty
        self.done = exited or truncated
        self.total_reward += reward
        applied = pending.status is StepStatus.APPLIED
        feedback = self.report.feedback if applied else pending.message
        observation = Observation(render(self.editor, feedback, config=config.render),
                                  code=self.editor.source,
                                  feedback=feedback_text(self.editor, feedback))
        info = StepInfo(
            turn=self.turn, status=pending.status, passed=self.report.passed, solved=self.solved,
            failures=_failure_count(self.report), malformed=self.malformed,
            rejected=self.rejected, truncated=truncated, command=pending.command,
        )
        return observation, reward, self.done, info

    def close(self) -> None:
        """Close the sandbox pool if this environment opened it."""
        if self._owns_sandbox and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> RepairEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failure_count(report: TestReport) -> int:
    return 0 if report.passed else max(len(report.failures), 1)


def step_all(
    envs: Sequence[RepairEnv], texts: Sequence[str]
) -> list[tuple[Observation, float, bool, StepInfo]]:
    """Step several environments, running all their tests in one sandbox batch.

    The environments' pools must be the same object for the batch to be one
    (it is, when they were built with a shared ``sandbox``); otherwise each
    environment's runs go to its own pool.

    Args:
        envs: Environments with active episodes.
        texts: One model completion per environment.

    Returns:
        ``(observation, reward, done, info)`` per environment, in order.

    Raises:
        ValueError: ``envs`` and ``texts`` differ in length.
        EnvError: An environment has no active episode.
    """
    if len(envs) != len(texts):
        msg = f"got {len(envs)} environments but {len(texts)} texts: pass one text per environment"
        raise ValueError(msg)
    pending = [env._begin(text) for env, text in zip(envs, texts, strict=True)]
    reports: list[TestReport | None] = [None] * len(envs)
    by_pool: dict[int, list[int]] = {}
    for i, (env, p) in enumerate(zip(envs, pending, strict=True)):
        if p.needs_run:
            by_pool.setdefault(id(env.sandbox), []).append(i)
    for indices in by_pool.values():
        pool = envs[indices[0]].sandbox
        jobs = []
        for i in indices:
            env = envs[i]
            assert env.editor is not None
            assert env.task is not None
            jobs.append((env.editor.source, env.task.tests))
        timeout = max(envs[i].config.timeout for i in indices)
        for i, report in zip(indices, pool.run_batch(jobs, timeout=timeout), strict=True):
            reports[i] = report
    return [env._finish(p, r) for env, p, r in zip(envs, pending, reports, strict=True)]
