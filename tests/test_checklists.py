"""The checklists of docs/architecture.md ("Adding a command, a dataset, a bug kind"), as tests.

Each test enumerates the members of one concept (the `Command` IR classes, the
evaluation datasets, the `BugKind` members) and checks every place the
checklist names holds each one, so that a member added in one place and
forgotten in another fails here, with the place in the message.
"""

from __future__ import annotations

import random
import re
import typing
from pathlib import Path

import pytest
from hypothesis import find, settings
from hypothesis.errors import NoSuchExample

from tests.strategies import commands
from toolthink.data.cli import make_parser as data_parser
from toolthink.data.corruption import corrupt
from toolthink.data.demos import ALL_KINDS
from toolthink.data.mutations import MUTATIONS
from toolthink.dsl import Command, execute, format_command, parse_command
from toolthink.dsl.grammar import TERMINAL_NAMES, Definition, grammar_items, grammar_text
from toolthink.dsl.mistakes import MISTAKES
from toolthink.dsl.reference import entries
from toolthink.env import SYSTEM_PROMPT
from toolthink.evaluation import datasets
from toolthink.evaluation.cli import make_parser
from toolthink.rollout.grammars import turn_grammar
from toolthink.tasks import BugKind, load_embedded_corpus
from toolthink.tasks.bug_kinds import LINE_EDITS, SEMANTIC_KINDS
from toolthink.tool import CodeEditor, SandboxPool

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _command_rules() -> list[str]:
    """The alternatives of ``?command`` in grammar/toolthink.lark: one rule per command."""
    (command,) = [i for i in grammar_items(grammar_text())
                  if isinstance(i, Definition) and i.name == "command"]
    return [name.strip() for name in command.body.split("|")]


def test_every_command_has_each_place_of_the_checklist() -> None:
    examples = {e.name: e.examples for e in entries()}
    built: set[type] = set()
    for rule in _command_rules():
        keyword = rule.upper()
        assert examples.get(rule), f"grammar rule {rule!r} has no '// example:' line"
        assert keyword in TERMINAL_NAMES, f"dsl.grammar.TERMINAL_NAMES lacks {keyword}"
        assert re.search(rf"^{keyword}\b", SYSTEM_PROMPT, re.MULTILINE), (
            f"env.prompt.SYSTEM_PROMPT does not teach {keyword}")
        for start in ("keywords are upper case", "unknown command"):
            (label,) = [m.label for m in MISTAKES if m.label.startswith(start)]
            assert keyword in label, f"dsl.mistakes' {start!r} message does not list {keyword}"
        assert rule in turn_grammar(3), f"rollout.grammars' turn grammar drops {rule!r}"
        for example in examples[rule]:
            command = parse_command(example)  # dsl.parser: a _Builder method
            built.add(type(command))
            assert parse_command(format_command(command)) == command  # dsl.printer
            execute(command, CodeEditor("a = 1\nb = 2\nc = 3\n"))  # dsl.execute: a case
    assert built == set(typing.get_args(Command)), (
        "dsl.ir.Command and the grammar's ?command alternatives differ")


@pytest.mark.parametrize("kind", typing.get_args(Command), ids=lambda kind: kind.__name__)
def test_the_shared_command_strategy_draws_every_command(kind: type) -> None:
    # Checklist step 10: tests/strategies.py's `commands`, which the printer's and
    # the parser's round-trip properties draw from, builds every IR class.
    try:
        find(commands, lambda command: type(command) is kind,
             settings=settings(database=None, max_examples=500))  # fmt: skip
    except NoSuchExample:
        pytest.fail(f"tests/strategies.py's `commands` strategy never draws a {kind.__name__}")


@pytest.mark.parametrize("name", datasets.DATASETS)
def test_every_dataset_has_each_place_of_the_checklist(
    name: str, sandbox_pool: SandboxPool, data_dir: Path
) -> None:
    assert f"``{name}``" in (datasets.__doc__ or ""), (
        f"evaluation.datasets' docstring does not describe {name!r}")
    (choices,) = [a.choices for a in make_parser()._actions if a.dest == "dataset"]
    assert name in (choices or ()), f"toolthink eval --dataset does not offer {name!r}"
    tasks = datasets.load_eval_tasks(name, data_dir, sandbox_pool, limit=2)  # a loader branch
    assert tasks, f"load_eval_tasks({name!r}) gave no task"
    assert all(t.provenance.license and t.provenance.source for t in tasks), (
        f"{name!r} tasks lack a license or a source in their provenance")


def test_every_bug_kind_has_a_generator_and_applies() -> None:
    assert not set(LINE_EDITS) & set(MUTATIONS)
    assert set(BugKind) == set(LINE_EDITS) | set(MUTATIONS), (
        "every BugKind is a line edit (data.corruption) or has a data.mutations transformer")
    assert tuple(MUTATIONS) == SEMANTIC_KINDS
    assert tuple(BugKind) == ALL_KINDS  # data.demos draws from every kind
    assert data_parser().parse_args(["demos", "--out", "x"]).kinds == [str(k) for k in BugKind]
    problems = load_embedded_corpus()
    donors = [line for p in problems for line in p.solution.splitlines() if line.strip()]
    for kind in BugKind:
        made = [corrupt(p.solution, random.Random(i), donors=donors, edits=1, kinds=[kind])
                for i, p in enumerate(problems)]
        assert any(c is not None and c.kinds == (kind,) for c in made), (
            f"no embedded program takes a {kind!r} bug")


def test_the_checklists_are_in_the_architecture_document() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert "## Checklists: adding a command, a dataset, a bug kind" in text
    assert "tests/test_checklists.py" in text
