"""Episodes as the JSONL records `toolthink show` replays.

One record per episode (the format in `toolthink.evaluation.show`)::

    {"task_id", "mode": "chain-of-edits" | "direct", "sample", "passed",
     "initial_code", "turns": [{"command", "status", "reward", "code", "feedback"}]}

plus extra fields: ``bug_kind``, ``n_edits`` (edits that made a synthetic bug,
None for a real one), ``truncated``, ``generated_tokens``, ``end`` (why the
episode ended, an `toolthink.evaluation.episode_view.End` value),
``initial_feedback`` (the tests' report on the buggy code), per turn ``passed``
(the code passes after it), and for Chain-of-Edits ``exited`` (the model sent
``EXIT``) and ``first_pass_turn`` (the 1-based turn after which the code first
passed its tests, None if never), from which
`toolthink.evaluation.metrics.pass_by_turn_budget` reads the pass rate at every
smaller turn budget. A turn's ``code`` and ``feedback`` are the ones the
episode recorded (`toolthink.rollout.episodes.Episode.codes`, ``feedbacks``).
"""

from __future__ import annotations

from typing import Any

from toolthink.evaluation.episode_view import End
from toolthink.rollout.episodes import Episode
from toolthink.tasks import RepairTask

__all__ = ["direct_record", "episode_record"]


def _end(episode: Episode) -> End:
    if episode.exited:
        return End.EXIT
    if episode.infos and episode.infos[-1].truncated:
        return End.TURN_LIMIT
    return End.TOKEN_BUDGET  # cut before max_turns: the next command would not fit


def episode_record(
    task: RepairTask, episode: Episode, *, sample: int, bug_kind: str | None,
    initial_feedback: str = "",
) -> dict[str, Any]:
    """A Chain-of-Edits episode as a `toolthink show` record."""
    turns = [
        {"command": command, "status": info.status, "reward": reward, "code": code,
         "feedback": feedback.strip(), "passed": info.passed}
        for command, info, reward, code, feedback in zip(
            episode.commands, episode.infos, episode.rewards, episode.codes, episode.feedbacks,
            strict=False)
    ]
    return {
        "task_id": task.task_id, "mode": "chain-of-edits", "sample": sample,
        "passed": episode.passed, "initial_code": task.buggy_code, "turns": turns,
        "bug_kind": bug_kind, "n_edits": task.n_edits or None,
        "truncated": episode.truncated, "exited": episode.exited,
        "first_pass_turn": next((turn for turn, info in enumerate(episode.infos, 1)
                                 if info.passed), None),
        "generated_tokens": episode.sampled_tokens, "total_reward": episode.total_reward,
        "prompt_tokens": len(episode.prompt_ids),
        "completion_tokens": len(episode.completion_ids),
        "end": _end(episode).value, "initial_feedback": initial_feedback,
    }


def direct_record(
    task: RepairTask, *, sample: int, bug_kind: str | None, text: str, code: str,
    passed: bool, feedback: str, generated_tokens: int, initial_feedback: str = "",
) -> dict[str, Any]:
    """A direct-answer attempt as a one-turn `toolthink show` record."""
    turn = {"command": text, "status": "answer", "reward": 1.0 if passed else 0.0,
            "code": code, "feedback": feedback, "passed": passed}
    return {
        "task_id": task.task_id, "mode": "direct", "sample": sample, "passed": passed,
        "initial_code": task.buggy_code, "turns": [turn], "bug_kind": bug_kind,
        "n_edits": task.n_edits or None, "truncated": False,
        "generated_tokens": generated_tokens,
        "end": End.ANSWER.value, "initial_feedback": initial_feedback,
    }
