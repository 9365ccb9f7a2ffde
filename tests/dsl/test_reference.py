"""docs/language.md is generated from the grammar and must not go stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.dsl import DslSyntaxError, parse, parse_command
from toolthink.dsl.reference import Entry, entries, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
REGENERATE = "python -m toolthink.dsl.reference > docs/language.md"


def test_language_reference_is_fresh() -> None:
    if DOC.read_text("utf-8") != markdown():
        pytest.fail(f"docs/language.md is stale: regenerate it with `{REGENERATE}`")


def test_every_rule_but_the_alias_is_documented_with_an_example() -> None:
    rules = [e for e in entries() if not e.is_terminal]
    assert {e.name for e in rules} >= {"start", "turn", "addl", "repl", "repw", "dell", "exit"}
    for entry in rules:
        if entry.name != "command":
            assert entry.comment, entry.name
            assert entry.examples, entry.name


def test_every_terminal_is_documented() -> None:
    for entry in (e for e in entries() if e.is_terminal and e.name not in
                  {"ADDL", "REPL", "REPW", "DELL", "EXIT", "NL"}):
        assert entry.comment, entry.name


@pytest.mark.parametrize("entry", [e for e in entries() if e.examples], ids=lambda e: e.name)
def test_examples_parse(entry: Entry) -> None:
    parse_fn = parse if entry.name == "start" else parse_command
    for example in entry.examples:
        try:
            parse_fn(example)
        except DslSyntaxError as e:
            pytest.fail(f"example of {entry.name} does not parse: {e}")
