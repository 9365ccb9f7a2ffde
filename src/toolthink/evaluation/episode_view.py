"""An evaluation episode record as a reader needs it: why it ended, what each reward means.

`toolthink show` (terminal) and `toolthink report` (HTML page) both read the
records `toolthink.evaluation.records` writes; this module holds what they
share, in plain Python (reading a run never imports the ML stack): the check
that a record is an episode (`episode_problem`), how it ended, what its rewards
mean, and its diffs. Rewards are
explained with the terms of `toolthink.env.RepairEnv` (Rainone et al., arXiv
2507.05065, section 4.2): +1 on the turn the tests first pass, -0.5 for a
malformed or rejected command, -0.5 when the episode ends without ``EXIT``.
Records written before ``end`` and a turn's ``passed`` existed are explained
from what they hold (the rewards and statuses).
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from toolthink.env import EnvConfig, StepStatus

__all__ = ["EPISODE_FIELDS", "REWARD_RULES", "End", "RewardTerm", "diff_lines", "end_of",
           "end_text", "episode_problem", "json_type", "reward_terms", "reward_text",
           "signed", "turns_note"]

EPISODE_FIELDS = ("task_id", "mode", "sample", "passed", "initial_code", "turns")
"""The fields every evaluation episode record has (`toolthink.evaluation.records`)."""

_EPISODE_TYPES: dict[str, tuple[type, ...]] = {
    "task_id": (str,), "mode": (str,), "sample": (int,), "passed": (bool,),
    "initial_code": (str,), "turns": (list,)}
_TURN_TYPES: dict[str, tuple[type, ...]] = {
    "command": (str,), "status": (str,), "reward": (int, float), "code": (str,),
    "feedback": (str,)}
_JSON_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}

_PAPER = EnvConfig()


def episode_problem(episode: dict[str, Any]) -> str | None:
    """What is wrong with an episode's fields (missing, or of the wrong JSON type); None if fine.

    Checked before anything is shown, so that a hand-edited or foreign file gets
    one line naming the field rather than a traceback from the renderer.
    """
    problem = _fields_problem(episode, _EPISODE_TYPES, "")
    if problem is not None:
        return problem
    for number, turn in enumerate(episode["turns"], 1):
        if not isinstance(turn, dict):
            return f"turn {number} is a JSON {json_type(turn)}, expected an object"
        problem = _fields_problem(turn, _TURN_TYPES, f"turn {number}: ")
        if problem is not None:
            return problem
    return None


def _fields_problem(record: dict[str, Any], types: dict[str, tuple[type, ...]],
                    where: str) -> str | None:
    missing = [name for name in types if name not in record]
    if missing:
        return f"{where}the fields {missing} are missing"
    for name, expected in types.items():
        value = record[name]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            wanted = " or ".join(_JSON_NAMES[t] for t in expected)
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return (f"{where}field {name!r} is a JSON {json_type(value)} ({shown}), "
                    f"expected a JSON {wanted}")
    return None


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type (``object``, ``array``, ``string``...)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


class End(enum.StrEnum):
    """Why an episode ended (the ``end`` field of a record)."""

    EXIT = "exit"
    """The model sent ``EXIT``."""
    TURN_LIMIT = "turn limit"
    """``max_turns`` commands were played without ``EXIT``."""
    TOKEN_BUDGET = "token budget"
    """The next command would not fit the episode's token budget (``max_total_tokens``)."""
    ANSWER = "answer"
    """A direct answer: one attempt, no commands."""


REWARD_RULES = (
    (_PAPER.fix_reward, "the turn on which the code first passes all tests"),
    (_PAPER.malformed_penalty, "a malformed command: it does not parse; the code is unchanged"),
    (_PAPER.rejected_penalty, "a rejected command: it parses but cannot be applied (a line out "
     "of range, REPW text not on the line); the code is unchanged"),
    (_PAPER.no_exit_penalty, "added to the last turn when the episode ends without EXIT (turn "
     "limit or token budget); such an episode never counts as repaired"),
    (0.0, "any other turn (an applied command, EXIT)"),
)
"""(reward, when) of a Chain-of-Edits turn, with the paper's values (`toolthink.env.EnvConfig`)."""


@attrs.frozen
class RewardTerm:
    """One part of a turn's reward: its value and the rule it comes from."""

    value: float
    reason: str


def end_of(record: Mapping[str, Any], max_turns: int | None = None) -> End | None:
    """Why the episode ended: its ``end`` field, else what its turns show (None: unknown).

    Args:
        record: An episode record.
        max_turns: The run's ``--max-turns`` (from results.json), for older records.
    """
    if "end" in record:
        try:
            return End(record["end"])
        except ValueError:
            return None
    turns = record.get("turns") or []
    if record.get("mode") == "direct":
        return End.ANSWER
    if turns and turns[-1].get("status") == StepStatus.EXIT:
        return End.EXIT
    if max_turns is not None:
        return End.TURN_LIMIT if len(turns) >= max_turns else End.TOKEN_BUDGET
    return None


def end_text(record: Mapping[str, Any], max_turns: int | None = None) -> str:
    """One sentence: how the episode ended and what that means for its score."""
    turns = record.get("turns") or []
    passed = bool(record.get("passed"))
    tests_pass = bool(turns) and bool(turns[-1].get("passed", passed))
    commands = f"{len(turns)} command{'s' if len(turns) != 1 else ''}"
    malformed = sum(t.get("status") == StepStatus.MALFORMED for t in turns)
    bad = f"; {malformed} of {commands} malformed" if malformed else ""
    match end_of(record, max_turns):
        case End.ANSWER:
            return "one direct answer: " + ("it passes the tests" if passed
                                            else "it fails the tests")
        case End.EXIT:
            verdict = "the tests pass: repaired" if passed else "the tests still fail"
            return f"EXIT after {commands}: {verdict}{bad}"
        case End.TURN_LIMIT:
            limit = f"turn limit ({commands}) reached without EXIT"
            why = (": the tests pass, but an episode without EXIT does not count as repaired"
                   if tests_pass else ": not repaired")
            return limit + why + bad
        case End.TOKEN_BUDGET:
            return (f"token budget spent after {commands}, without EXIT: not repaired"
                    + bad)
        case _:
            return (f"{commands}, no EXIT (turn limit or token budget): "
                    + ("repaired" if passed else "not repaired") + bad)


def _first_pass(turns: Sequence[Mapping[str, Any]], index: int) -> bool | None:
    """Whether the tests first pass at ``turns[index]``; None when the record cannot tell."""
    if any("passed" not in t for t in turns[:index + 1]):
        return None
    return bool(turns[index]["passed"]) and not any(t["passed"] for t in turns[:index])


def reward_terms(record: Mapping[str, Any], index: int) -> tuple[RewardTerm, ...]:
    """The parts of ``record["turns"][index]["reward"]``, each with the rule it comes from.

    Values are the paper's (`REWARD_RULES`); what a record's reward holds beyond
    them (``EnvConfig.shaping``, other settings) is one more term, "other".

    Raises:
        IndexError: ``index`` is not a turn of ``record``.
    """
    turns = record.get("turns") or []
    turn = turns[index]
    reward = float(turn.get("reward", 0.0))
    if record.get("mode") == "direct":
        return (RewardTerm(reward, "the answer passes the tests" if reward > 0
                           else "the answer fails the tests"),)
    terms = []
    if turn.get("status") == StepStatus.MALFORMED:
        terms.append(RewardTerm(_PAPER.malformed_penalty, "malformed command (does not parse)"))
    elif turn.get("status") == StepStatus.REJECTED:
        terms.append(RewardTerm(_PAPER.rejected_penalty, "rejected command (cannot be applied)"))
    last = index == len(turns) - 1
    if last and record.get("truncated"):
        terms.append(RewardTerm(_PAPER.no_exit_penalty, "episode ended without EXIT"))
    first = _first_pass(turns, index)
    rest = reward - sum(t.value for t in terms)
    if first or (first is None and abs(rest - _PAPER.fix_reward) < 1e-6):
        terms.append(RewardTerm(_PAPER.fix_reward, "the tests pass for the first time"))
        rest -= _PAPER.fix_reward
    if abs(rest) > 1e-6:
        terms.append(RewardTerm(rest, "other (shaping or non-default reward settings)"))
    return tuple(terms)


def signed(value: float) -> str:
    """A reward as text: ``+1``, ``-0.5``, and ``0`` (not ``+0``)."""
    return "0" if value == 0 else f"{value:+g}"


def reward_text(record: Mapping[str, Any], index: int) -> str:
    """``reward_terms`` as text: ``"-0.5: malformed command (does not parse)"``; 0 says why."""
    terms = reward_terms(record, index)
    if not terms:
        status = record["turns"][index].get("status")
        return "0: " + ("EXIT ends the episode" if status == StepStatus.EXIT
                        else "applied; no reward until the tests first pass")
    return "; ".join(f"{signed(t.value)}: {t.reason}" for t in terms)


def diff_lines(before: str, after: str, *, context: int = 1) -> list[str]:
    """The unified diff of two versions of the code, whole lines, without file headers.

    Returns:
        Lines starting ``@@``, ``-``, ``+`` or a space; empty when nothing changed.
    """
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                 lineterm="", n=context)
    return list(lines)[2:]


def turns_note(exit_rate: float | None, max_turns: int | None = None) -> str | None:
    """The sentence that explains a mean turns column no episode chose; None when one did.

    Args:
        exit_rate: `toolthink.evaluation.evaluator.ModeResult.exit_rate` (None: no
            Chain-of-Edits episodes).
        max_turns: The run's ``--max-turns``, named when known.
    """
    if exit_rate is None or exit_rate > 0:
        return None
    limit = "the turn limit" + (f" ({max_turns})" if max_turns is not None else "")
    return (f"No Chain-of-Edits episode sent EXIT: each ran to {limit} or the token budget, so "
            "its mean turns is that limit, not the model's choice.")
