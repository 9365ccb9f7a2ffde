"""The one JSONL reader: every bad line is a `JsonlError` naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolthink.jsonl import JsonlError, jsonl_text, read_jsonl, write_jsonl


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


@pytest.mark.parametrize("ascii_only", [True, False])
def test_what_the_writer_writes_the_reader_reads(ascii_only: bool, tmp_path: Path) -> None:
    rows = [{"a": 1, "text": "café ✓"}, {"a": [1.5, None, True]}]
    path = write_jsonl(tmp_path / "sub" / "x.jsonl", rows, ascii_only=ascii_only)
    assert read_jsonl(path) == rows
    assert ("café" in path.read_text(encoding="utf-8")) is not ascii_only
    write_jsonl(path, rows[:1], append=True)
    assert read_jsonl(path) == [*rows, rows[0]]


def test_model_text_with_a_lone_surrogate_is_written_escaped(tmp_path: Path) -> None:
    # Decoded model output can hold one; UTF-8 cannot encode it, so the default escapes.
    path = write_jsonl(tmp_path / "x.jsonl", [{"command": "REPL 1 >>>\udcff"}])
    assert read_jsonl(path) == [{"command": "REPL 1 >>>\udcff"}]
    assert jsonl_text([{"a": "é"}]) == '{"a": "\\u00e9"}\n'
