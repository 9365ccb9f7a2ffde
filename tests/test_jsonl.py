"""The one JSONL reader: every bad line is a `JsonlError` naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.jsonl import JsonlError, read_jsonl


@pytest.mark.parametrize(("content", "message"), [
    (b'{"b": 1}\n' + b"[" * 100_000 + b"\n", r"x.jsonl:2 nests JSON deeper than Python's json"),
    (b"1" * 5000 + b"\n", r"x.jsonl:1 is not JSON \(Exceeds the limit"),
    (b"{oops\n", r"x.jsonl:1 is not JSON"),
    (b'\n{"b": "\xe9"}\n', r"x.jsonl:2 is not UTF-8 text"),
    (b"[1]\n", r"x.jsonl:1 is a JSON list, not a JSON object"),
    (b'{"a": 1}\n', r"x.jsonl:1 lacks the fields \['b'\]"),
])
def test_a_bad_line_names_the_file_and_line(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(JsonlError, match=message):
        read_jsonl(path, ("b",))


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert read_jsonl(path, ("a",)) == [{"a": 1}, {"a": 2}]
