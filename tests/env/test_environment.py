"""RepairEnv: rewards, observations and info on real tasks in the sandbox."""

from __future__ import annotations

import json

import attrs
import pytest

from toolthink.env import (
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    EnvConfig,
    RepairEnv,
    StepStatus,
    step_all,
)
from toolthink.env.environment import EnvError
from toolthink.tasks import Problem, load_embedded_corpus
from toolthink.tool import SandboxPool


@pytest.fixture(scope="module")
def problem() -> Problem:
    (found,) = [p for p in load_embedded_corpus() if p.task_id == "toolthink/running_max"]
    return found


BUGGY_LINE = "        if number > best:"
FIXED_LINE = "        if best is None or number > best:"


@pytest.fixture
def env(sandbox_pool: SandboxPool, problem: Problem) -> RepairEnv:
    environment = RepairEnv(sandbox=sandbox_pool)
    environment.reset(problem.with_bug(problem.solution.replace(FIXED_LINE, BUGGY_LINE)))
    return environment


def test_reset_shows_system_task_tests_and_numbered_code(
    sandbox_pool: SandboxPool, problem: Problem
) -> None:
    env = RepairEnv(sandbox=sandbox_pool)
    obs = env.reset(problem.with_bug(problem.solution.replace(FIXED_LINE, BUGGY_LINE)))
    assert obs.system == SYSTEM_PROMPT
    assert obs.prompt_version == PROMPT_VERSION
    assert obs.text.startswith("Problem:\nReturn the list of running maxima")
    assert "Tests:\nassert running_max([]) == []" in obs.text
    assert "5|        if number > best:\n" in obs.text
    assert "\n***\n" in obs.text
    assert "TypeError" in obs.text


def test_fix_then_exit_earns_one(env: RepairEnv) -> None:
    obs, reward, done, info = env.step("REPW 5 >>>number >>>best is None or number")
    assert (reward, done, info.status, info.passed, info.solved) == (1.0, False, "applied", True,
                                                                     True)
    assert "5|        if best is None or number > best:" in obs.text
    obs, reward, done, info = env.step("EXIT\n")
    assert (reward, done, info.status, info.truncated) == (0.0, True, "exit", False)
    assert env.total_reward == 1.0


def test_malformed_command_costs_half_and_keeps_the_code(env: RepairEnv) -> None:
    before = env.editor.source if env.editor else ""
    obs, reward, done, info = env.step("repl 5 >>>x")
    assert (reward, done, info.status, info.malformed, info.command) == (-0.5, False, "malformed",
                                                                         1, None)
    assert "upper case" in obs.text
    assert "(the code is unchanged)" in obs.text
    assert env.editor is not None
    assert env.editor.source == before


def test_an_observation_carries_the_code_and_the_report_it_shows(env: RepairEnv) -> None:
    # Readers (records, `toolthink show`) take these fields, never re-parse the text.
    for command in ("REPW 5 >>>number >>>best is None or (", "REPW 5 >>>( >>>", "DELL 40",
                    "nope", "DELL 1"):
        obs = env.step(command)[0]
        assert env.editor is not None
        assert obs.code == env.editor.source
        _, separator, report = obs.text.partition("\n***\n")
        assert separator
        assert obs.feedback == report
    assert obs.feedback.startswith("IndentationError at line 1")  # the compile error too


def test_rejected_command_costs_half_and_names_the_valid_range(env: RepairEnv) -> None:
    obs, reward, _, info = env.step("DELL 40")
    assert (reward, info.status, info.rejected) == (-0.5, StepStatus.REJECTED, 1)
    assert "line 40 does not exist" in obs.text


def test_episode_without_exit_is_cut_and_penalised(
    sandbox_pool: SandboxPool, problem: Problem
) -> None:
    env = RepairEnv(EnvConfig(max_turns=2), sandbox=sandbox_pool)
    env.reset(problem.with_bug(problem.solution.replace(FIXED_LINE, BUGGY_LINE)))
    _, reward, done, info = env.step("REPW 2 >>>result >>>result")
    assert (reward, done) == (0.0, False)
    _, reward, done, info = env.step("REPW 5 >>>number >>>best is None or number")
    assert (reward, done, info.truncated) == (1.0 - 0.5, True, True)
    with pytest.raises(EnvError, match="reset"):
        env.step("EXIT")


def test_fix_is_rewarded_only_the_first_time(env: RepairEnv) -> None:
    assert env.step("REPW 5 >>>number >>>best is None or number")[1] == 1.0
    assert env.step("REPW 5 >>>best is None or  >>>")[1] == 0.0  # breaks it again
    assert env.step("REPW 5 >>>number >>>best is None or number")[1] == 0.0


def test_step_all_batches_environments(sandbox_pool: SandboxPool, problem: Problem) -> None:
    task = problem.with_bug(problem.solution.replace(FIXED_LINE, BUGGY_LINE))
    envs = [RepairEnv(sandbox=sandbox_pool) for _ in range(3)]
    for env in envs:
        env.reset(task)
    results = step_all(envs, ["REPW 5 >>>number >>>best is None or number", "DELL 1", "EXIT"])
    assert [r[1] for r in results] == [1.0, 0.0, 0.0]
    assert [r[3].status for r in results] == [StepStatus.APPLIED, StepStatus.APPLIED,
                                              StepStatus.EXIT]
    assert [r[2] for r in results] == [False, False, True]
    with pytest.raises(ValueError, match="one text per environment"):
        step_all(envs, ["EXIT"])


def test_info_is_a_plain_dict_for_loggers(env: RepairEnv) -> None:
    info = env.step("EXIT")[3].as_dict()
    assert info["status"] is StepStatus.EXIT
    assert json.loads(json.dumps(info))["status"] == "exit"  # JSONL files keep the plain value
    assert set(info) >= {"turn", "passed", "malformed", "truncated"}


def test_step_before_reset_is_an_error(sandbox_pool: SandboxPool) -> None:
    with pytest.raises(EnvError, match="reset"):
        RepairEnv(sandbox=sandbox_pool).step("EXIT")


@pytest.mark.parametrize(
    ("field", "value"), [("max_turns", 0), ("timeout", 0.0), ("shaping", -1.0)]
)
def test_config_refuses_bad_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        attrs.evolve(EnvConfig(), **{field: value})
