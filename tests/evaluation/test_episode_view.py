"""Why an episode ended and what its rewards mean, from a record (old records too)."""

from __future__ import annotations

import pytest

from toolthink.evaluation.episode_view import End, end_of, end_text, reward_terms, reward_text


def _turn(status: str, reward: float, passed: bool | None = None) -> dict[str, object]:
    turn: dict[str, object] = {"command": "X", "status": status, "reward": reward, "code": "",
                               "feedback": ""}
    if passed is not None:
        turn["passed"] = passed
    return turn


def _record(turns: list[dict[str, object]], **fields: object) -> dict[str, object]:
    return {"task_id": "t", "mode": "chain-of-edits", "sample": 0, "passed": False,
            "initial_code": "", "turns": turns, "truncated": False, **fields}


@pytest.mark.parametrize(("record", "max_turns", "end", "text"), [
    (_record([_turn("applied", 1.0, True), _turn("exit", 0.0, True)], passed=True, end="exit"),
     None, End.EXIT, "EXIT after 2 commands: the tests pass: repaired"),
    (_record([_turn("malformed", -0.5, False), _turn("applied", 0.5, True)], truncated=True,
             end="turn limit"), None, End.TURN_LIMIT,
     "turn limit (2 commands) reached without EXIT: the tests pass, but an episode without "
     "EXIT does not count as repaired; 1 of 2 commands malformed"),
    (_record([_turn("applied", -0.5, False)], truncated=True, end="token budget"), None,
     End.TOKEN_BUDGET, "token budget spent after 1 command, without EXIT: not repaired"),
    # records written before `end`: told apart with the run's max_turns, else said so
    (_record([_turn("applied", 0.0), _turn("applied", -0.5)], truncated=True), 2,
     End.TURN_LIMIT, "turn limit (2 commands) reached without EXIT: not repaired"),
    (_record([_turn("applied", -0.5)], truncated=True), None, None,
     "1 command, no EXIT (turn limit or token budget): not repaired"),
    (_record([_turn("answer", 0.0)], mode="direct"), None, End.ANSWER,
     "one direct answer: it fails the tests"),
])
def test_end(record: dict[str, object], max_turns: int | None, end: End | None,
             text: str) -> None:
    assert end_of(record, max_turns) == end
    assert end_text(record, max_turns) == text


@pytest.mark.parametrize(("turns", "truncated", "index", "text"), [
    ([_turn("malformed", -0.5, False)], False, 0, "-0.5: malformed command (does not parse)"),
    ([_turn("rejected", -0.5, False)], False, 0, "-0.5: rejected command (cannot be applied)"),
    ([_turn("malformed", -1.0, False)], True, 0,
     "-0.5: malformed command (does not parse); -0.5: episode ended without EXIT"),
    ([_turn("applied", 1.0, True)], False, 0, "+1: the tests pass for the first time"),
    ([_turn("applied", 1.0, True), _turn("applied", 0.0, True)], False, 1,
     "0: applied; no reward until the tests first pass"),
    ([_turn("exit", 0.0, False)], False, 0, "0: EXIT ends the episode"),
    ([_turn("applied", 1.0)], False, 0, "+1: the tests pass for the first time"),  # old record
    ([_turn("applied", 0.25, False)], False, 0,
     "+0.25: other (shaping or non-default reward settings)"),
])
def test_reward_text_names_each_term(turns: list[dict[str, object]], truncated: bool,
                                     index: int, text: str) -> None:
    record = _record(turns, truncated=truncated)
    assert reward_text(record, index) == text
    assert sum(t.value for t in reward_terms(record, index)) == pytest.approx(
        turns[index]["reward"])
