"""Detours: one wrong command, its feedback and the recovery inserted into a demonstration."""

from __future__ import annotations

import random

import pytest

from toolthink.data.corruption import corrupt
from toolthink.data.demos import DemoConfig, build_demos
from toolthink.data.detours import DetourKind, add_detour
from toolthink.dsl import Exit, Rejected, execute, parse_command
from toolthink.env import EnvConfig
from toolthink.tasks import load_embedded_corpus
from toolthink.tool import CodeEditor, SandboxPool

PROBLEMS = load_embedded_corpus()[:6]


def _corruptions() -> list[tuple[str, str, tuple]]:  # type: ignore[type-arg]
    cases = []
    for problem in load_embedded_corpus()[:20]:
        for seed in range(3):
            result = corrupt(problem.solution, random.Random(seed), donors=["x = 1"], edits=2)
            if result is not None:
                cases.append((result.corrupted, result.original, result.trace()))
    return cases


CASES = _corruptions()


def test_detours_replay_to_the_original_and_keep_the_right_commands() -> None:
    kinds, made = set(), 0
    for i, (corrupted, original, trace) in enumerate(CASES):
        detour = add_detour(corrupted, trace, random.Random(i))
        if detour is None:
            continue
        made += 1
        kinds.add((detour.kind, detour.rejected))
        commands = detour.commands
        # Without the wrong command and its undo, the right trace is intact, in order.
        undo = len(commands) - len(trace) - 1
        assert (*commands[: detour.turn], *commands[detour.turn + 1 + undo:]) == tuple(trace)
        assert isinstance(commands[-1], Exit)
        editor = CodeEditor(corrupted)
        for index, command in enumerate(commands):
            before = editor.source
            outcome = execute(command, editor)
            wrong = index == detour.turn
            refused = any(isinstance(s, Rejected) for s in outcome.steps)
            assert refused == (wrong and detour.rejected)
            if wrong:
                assert (editor.source == before) == detour.rejected
                assert (undo == 0) == detour.rejected
                changed_from = before
            if wrong is False and index == detour.turn + undo:
                assert editor.source == changed_from  # the undo restored the state exactly
        assert editor.source == original
    assert made > len(CASES) // 2
    assert kinds == {(DetourKind.WRONG_LINE, False), (DetourKind.WRONG_LINE, True),
                     (DetourKind.ABSENT_TEXT, True)}


def test_a_trace_that_does_not_replay_is_refused() -> None:
    corrupted, _, trace = CASES[0]
    with pytest.raises(ValueError, match="does not replay"):
        add_detour(corrupted, (parse_command("DELL 999"), *trace), random.Random(0))


def test_nothing_to_detour_gives_none() -> None:
    assert add_detour("x = 1\n", (Exit(),), random.Random(0)) is None


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_share_out_of_range_is_named(share: float) -> None:
    with pytest.raises(ValueError, match=f"detours={share}"):
        DemoConfig(detours=share)


def test_demonstrations_with_detours_verify(sandbox_pool: SandboxPool) -> None:
    config = DemoConfig(per_problem=2, seed=3, env=EnvConfig(timeout=1.0), detours=1.0)
    plain = build_demos(PROBLEMS, DemoConfig(per_problem=2, seed=3, env=EnvConfig(timeout=1.0)),
                        pool=sandbox_pool)
    demos = build_demos(PROBLEMS, config, pool=sandbox_pool)
    detoured = [r for r in demos.records if "untrained" in r]
    assert len(detoured) > len(demos.records) // 2
    by_id = {r["id"]: r for r in plain.records}
    for record in detoured:
        (turn,) = record["untrained"]
        wrong = record["commands"][turn]
        feedback = record["observations"][turn]
        if record["detour"]["rejected"]:
            assert "(the code is unchanged)" in feedback
            assert record["rewards"][turn] == -0.5
        assert "All tests passed" not in feedback
        # The same bug's plain demonstration is the detoured one without the detour.
        same = by_id[record["id"]]
        undo = len(record["commands"]) - len(same["commands"]) - 1
        rest = record["commands"][:turn] + record["commands"][turn + 1 + undo:]
        assert rest == same["commands"], wrong
        assert record["original"] == same["original"]
