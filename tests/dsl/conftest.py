"""Fixtures for the language's tests."""

from __future__ import annotations

import pytest

from toolthink.dsl import lark_grammar


@pytest.fixture(scope="session")
def grammar_terminals() -> dict[str, str]:
    """The grammar's terminals: name -> regex (strings are escaped)."""
    return {t.name: t.pattern.to_regexp() for t in lark_grammar().terminals}
