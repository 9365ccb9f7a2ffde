"""Markdown tables: one line per row, cells escaped and on one line."""

from __future__ import annotations

import pytest

from toolthink.markdown import markdown_table


def test_a_table_has_a_header_a_rule_and_a_line_per_row() -> None:
    text = markdown_table(["a", "b"], [[1, 0.123456], ["x|y", "two\nlines"]])
    assert text == ("| a | b |\n| --- | --- |\n| 1 | 0.1235 |\n| x\\|y | two lines |\n")


def test_a_short_row_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"row 1 has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [[1]])
