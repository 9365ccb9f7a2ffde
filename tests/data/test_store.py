"""Reading demonstration files: a bad line is named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolthink.data.store import read_jsonl


@pytest.mark.parametrize(("line", "message"), [
    (b"not json", r"demos.jsonl:3 is not JSON"),
    (b"[1, 2]", r"demos.jsonl:3 is a JSON list, not a JSON object"),
    (b'{"split": "caf\xe9"}', r"demos.jsonl:3 is not UTF-8 text"),
])
def test_a_bad_line_is_named_by_file_and_line(line: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    path.write_bytes(json.dumps({"split": "train"}).encode() + b"\n\n" + line + b"\n")
    with pytest.raises(ValueError, match=message):
        read_jsonl(path)


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}]
