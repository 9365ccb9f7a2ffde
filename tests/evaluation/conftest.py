"""Fixtures for evaluation: the tiny random model saved as a folder, a run folder.

The embedded tokenizer, the tiny model over its vocabulary and that model saved
as a folder (``tiny_model_dir``) come from tests/conftest.py. The tiny model
writes noise: the tests check the plumbing (records, scores, files, exit
statuses), never that a repair succeeds, except through the oracle seams that
are labelled as such.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

EXAMPLE_TASKS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tasks.jsonl"


HOSTILE_ID = '<img src=x onerror="document.title=1">'
"""A task id that would run script if the page did not escape it."""

LONG_LINE = "    return " + " + ".join(f"value_{i}" for i in range(30)) + "  # </script><b>x"
"""A code line longer than any terminal, with markup in it."""


def _scripted(task: RepairTask, commands: list[str], pool: SandboxPool, max_turns: int,
              sample: int) -> dict[str, object]:
    """A real episode of ``task`` played by ``commands`` instead of a model, as eval records it."""
    from toolthink.env import EnvConfig, RepairEnv  # noqa: PLC0415
    from toolthink.evaluation.datasets import bug_kind  # noqa: PLC0415
    from toolthink.evaluation.records import episode_record  # noqa: PLC0415
    from toolthink.rollout.episodes import Episode  # noqa: PLC0415

    env = RepairEnv(EnvConfig(max_turns=max_turns), sandbox=pool)
    env.reset(task)
    assert env.report is not None
    initial = env.report.feedback
    observations, codes, feedbacks, rewards, infos = [], [], [], [], []
    for command in commands:
        observation, reward, done, info = env.step(command)
        observations.append(observation.text)
        codes.append(observation.code)
        feedbacks.append(observation.feedback)
        rewards.append(reward)
        infos.append(info)
        if done:
            break
    truncated = infos[-1].truncated
    episode = Episode(task_id=task.task_id, prompt_ids=(1, 2), completion_ids=(3,) * 5,
                      env_mask=(1,) * 5, logprobs=(0.0,) * 5, turn_of_token=(0,) * 5,
                      commands=tuple(commands[:len(infos)]), grammars=("",) * len(infos),
                      observations=tuple(observations), codes=tuple(codes),
                      feedbacks=tuple(feedbacks), rewards=tuple(rewards),
                      infos=tuple(infos), truncated=truncated,
                      passed=infos[-1].passed and not truncated)
    return episode_record(task, episode, sample=sample, bug_kind=bug_kind(task),
                          initial_feedback=initial)


@pytest.fixture(scope="session")
def run_dir(sandbox_pool: SandboxPool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An eval --out folder (results.json, episodes.jsonl, figures) of scripted episodes.

    The episodes are real (RepairEnv steps, sandboxed tests, `episode_record`);
    only the commands are written here instead of sampled: a repair ended by
    EXIT, a malformed and a rejected command then a fix cut at the turn limit,
    an early EXIT, and a task whose id and code carry markup and a long line.
    Direct answers: one right, one wrong.
    """
    from toolthink.evaluation.datasets import bug_kind  # noqa: PLC0415
    from toolthink.evaluation.evaluator import ModeResult  # noqa: PLC0415
    from toolthink.evaluation.figures import plot_pass_at_k, plot_turns  # noqa: PLC0415
    from toolthink.evaluation.metrics import summarize  # noqa: PLC0415
    from toolthink.evaluation.records import direct_record  # noqa: PLC0415
    from toolthink.evaluation.report import write_results  # noqa: PLC0415
    from toolthink.tasks.own import load_own_tasks  # noqa: PLC0415

    tasks = {o.task.task_id: o.task for o in load_own_tasks(EXAMPLE_TASKS)}
    clamp, last_n = tasks["clamp"], tasks["last-n"]
    hostile = attrs.evolve(clamp, task_id=HOSTILE_ID,
                           buggy_code=clamp.buggy_code + "\n\ndef long(value_0=0):\n"
                           + LONG_LINE + "\n")
    max_turns = 3
    coe = [
        _scripted(clamp, ["REPW 5 >>>x >>>hi", "EXIT"], sandbox_pool, max_turns, 0),
        _scripted(clamp, ["this is not a command", "DELL 99", "REPW 5 >>>x >>>hi"],
                  sandbox_pool, max_turns, 1),
        _scripted(last_n, ["EXIT"], sandbox_pool, max_turns, 0),
        _scripted(last_n, ["REPL 2 >>>    return items[max(len(items) - n, 0):]", "EXIT"],
                  sandbox_pool, max_turns, 1),
        _scripted(hostile, ["REPW 5 >>>x >>>hi", "EXIT"], sandbox_pool, max_turns, 0),
        _scripted(hostile, ["EXIT"], sandbox_pool, max_turns, 1),
    ]
    direct = []
    for task in (clamp, last_n, hostile):
        for sample, code in enumerate((task.reference or clamp.reference or "", task.buggy_code)):
            report = sandbox_pool.run(code, task.tests, timeout=5.0)
            direct.append(direct_record(task, sample=sample, bug_kind=bug_kind(task),
                                        text=f"```python\n{code}```", code=code,
                                        passed=report.passed, feedback=report.feedback,
                                        generated_tokens=40))
    ks = (1, 2)
    results = []
    for mode, records in (("chain-of-edits", coe), ("direct", direct)):
        outcomes: dict[str, list[bool]] = {}
        for record in records:
            outcomes.setdefault(str(record["task_id"]), []).append(bool(record["passed"]))
        groups = {t.task_id: k for t in (clamp, last_n, hostile) if (k := bug_kind(t))}
        results.append(ModeResult(
            mode=mode, summary=summarize(outcomes, ks, groups),
            mean_turns=sum(len(r["turns"]) for r in records) / len(records),  # type: ignore[arg-type]
            mean_generated_tokens=40.0, seconds=1.0, records=tuple(records)))
    out = tmp_path_factory.mktemp("run") / "eval-mine"
    write_results(out, results, {"model": "scripted", "adapter": None, "dataset": "mine",
                                 "tasks": 3, "samples": 2, "ks": list(ks), "temperature": 0.8,
                                 "max_turns": max_turns, "seed": 0})
    plot_pass_at_k(results, ks, out / "pass_at_k.png", title="mine")
    plot_turns(results, out / "turns.png", max_turns=max_turns)
    return out
