"""Every option of toolthink eval, show and report says its default in --help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from toolthink.commands import DefaultsHelpFormatter
from toolthink.evaluation import cli, page_cli, show

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "eval": cli.make_parser, "show": show.make_parser, "report": page_cli.make_parser}


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_option_states_its_default(command: str) -> None:
    parser = PARSERS[command]()
    formatter = parser.formatter_class(prog=parser.prog)
    assert isinstance(formatter, DefaultsHelpFormatter)
    missing = [action.option_strings[-1] for action in parser._actions
               if action.option_strings and action.nargs != 0  # not -h nor a flag
               and "default" not in (formatter._get_help_string(action) or "")]
    assert missing == []


@pytest.mark.parametrize(("command", "text"), [
    ("eval", "(default: 10)"), ("eval", "pass@k budgets, e.g. 1,4 (default: 1)"),
    ("eval", "(default: both)"), ("report", "(default: RUN_DIR/report.html)"),
])
def test_defaults_in_the_help_text(command: str, text: str) -> None:
    help_text = " ".join(PARSERS[command]().format_help().split())
    assert text in help_text


def test_eval_flags_default_to_the_eval_config() -> None:
    # the flags are built from EvalConfig's fields: no second copy of a default to drift
    from toolthink.evaluation.eval_config import EvalConfig  # noqa: PLC0415

    assert cli.eval_config(cli.make_parser().parse_args([]), temperature=0.0) == EvalConfig()
