"""The docs' tables of figures, each rendered by a committed script from a committed results file.

Usage::

    python benchmarks/doc_tables.py [--write] [DOC ...]

A table of figures in benchmarks/README.md or docs/*.md sits between two HTML
comments (invisible once rendered)::

    <!-- table: benchmarks/bench_rl.py --from-results
      benchmarks/results/rl-tiny-100-steps.jsonl:2-30 -->
    | results file | steps | ... |
    <!-- /table -->

The opening comment holds a command (it may span lines), run from the
repository root without ``python``; its standard output is the table, byte for
byte. Each script named
there reads only committed results files in that mode (``--from-results``): no
benchmark is rerun and no model is loaded. A table whose figures were never
saved is marked instead::

    <!-- table: measured by hand, no results file -->

and tests/test_doc_tables.py accepts that marker only in the sections its
allow-list names, with the reason. A table outside any marker that looks like
figures (`holds_figures`) fails that test.

This script checks every rendered table of the given docs (default: `DOCS`)
and prints a diff for each one that differs from its command's output; with
``--write`` it rewrites those tables in place instead. Exit status 1 when a
table differs (without ``--write``) or a command fails.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import difflib
import functools
import importlib.util
import io
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("benchmarks/README.md", "docs/*.md")
"""The docs whose tables are checked, as globs under the repository root (not docs/results/)."""

BY_HAND = "measured by hand, no results file"
"""The opening comment's text for a table whose figures were never saved."""

BLOCK = re.compile(r"^<!-- table: (?P<command>.+?) -->\n(?P<body>.*?)^<!-- /table -->$",
                   re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6} (?P<title>.+)$")
FENCE = re.compile(r"^(```|~~~)")
NUMBER = re.compile(r"^[-+~]?\d[\d,]*(\.\d+)?\b")
MEASURE = re.compile(r"\d[\d,]*(\.\d+)?(\s?(s|ms|us|min|h|GiB|GB|MB)|x)(?![\w-])")


@dataclass(frozen=True)
class Table:
    """A markdown table of a doc: where it is and, when it sits in a marker, the marker's command.

    ``command`` is None outside a marker and `BY_HAND` for a table measured by hand.
    ``start`` and ``end`` are character offsets of the body (the table's lines) in the doc.
    """

    doc: str
    line: int
    heading: str
    command: str | None
    body: str
    start: int
    end: int


def doc_paths(patterns: Sequence[str] = DOCS, root: Path = ROOT) -> list[Path]:
    """The docs matched by ``patterns`` (globs relative to ``root``), sorted."""
    return sorted(p for pattern in patterns for p in root.glob(pattern))


def tables(path: Path, root: Path = ROOT) -> list[Table]:
    """Every markdown table of the doc at ``path``, in order, each with its marker if any.

    A marker's body counts as one table even when empty or broken; fenced code is skipped.
    """
    text = path.read_text(encoding="utf-8")
    doc = path.relative_to(root).as_posix()
    lines = text.splitlines(keepends=True)
    starts, headings, fenced = [], [], []
    offset, heading, fence = 0, "", False
    for line in lines:
        if FENCE.match(line):
            fence = not fence
        match = None if fence else HEADING.match(line)
        heading = match["title"].strip() if match else heading
        starts.append(offset)
        headings.append(heading)
        fenced.append(fence)
        offset += len(line)

    def line_of(position: int) -> int:
        return bisect.bisect_right(starts, position) - 1  # 0-based

    found, spans = [], []
    for block in BLOCK.finditer(text):
        index = line_of(block.start())
        if fenced[index]:
            continue
        found.append(Table(doc, line_of(block.start("body")) + 1, headings[index],
                           " ".join(block["command"].split()),
                           block["body"], block.start("body"), block.end("body")))
        spans.append(range(block.start(), block.end()))
    index = 0
    while index < len(lines):
        first = index
        while (index < len(lines) and lines[index].startswith("|") and not fenced[index]
               and not any(starts[index] in span for span in spans)):
            index += 1
        if index == first:
            index += 1
            continue
        start, end = starts[first], starts[index - 1] + len(lines[index - 1])
        found.append(Table(doc, first + 1, headings[first], None, text[start:end], start, end))
    return sorted(found, key=lambda table: table.start)


def holds_figures(body: str) -> bool:
    """Whether a table outside a marker looks like measured figures.

    A heuristic: at least 40 % of its body cells start with a number, or its cells
    give three or more numbers with a unit of time or memory, or ratios (``23 s``,
    ``8.6 GiB``, ``1.6x``). Reference tables (fields, options, settings, a
    timeout or two) pass.
    """
    rows = [line.strip().strip("|").split("|") for line in body.splitlines()[2:]]
    cells = [c.strip().strip("*`") for row in rows for c in row]
    numeric = sum(bool(NUMBER.match(c)) for c in cells)
    measures = sum(len(MEASURE.findall(c)) for c in cells)
    return numeric >= 0.4 * max(len(cells), 1) or measures >= 3


@functools.cache
def load_script(path: Path) -> ModuleType:
    """The script at ``path`` as a module (not run as ``__main__``), loaded once."""
    spec = importlib.util.spec_from_file_location(f"doc_table_{path.stem}", path)
    if spec is None or spec.loader is None:
        msg = f"cannot load {path} as a module: is it a Python file?"
        raise ValueError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def render(command: str, root: Path = ROOT) -> str:
    """What ``command`` (``SCRIPT ARGS...``, run from ``root``) prints: the script's ``main(argv)``.

    Raises:
        ValueError: The command names no script with a ``main(argv)``.
    """
    script, *argv = shlex.split(command)
    module = load_script(root / script)
    main: Callable[[Sequence[str]], object] | None = getattr(module, "main", None)
    if main is None:
        msg = f"{script} has no main(argv) to render `{command}`"
        raise ValueError(msg)
    out = io.StringIO()
    with contextlib.chdir(root), contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


def rendered(paths: Sequence[Path], root: Path = ROOT) -> Iterator[tuple[Table, str]]:
    """Each rendered table of ``paths`` with what its command prints now."""
    for path in paths:
        for table in tables(path, root):
            if table.command is not None and table.command != BY_HAND:
                yield table, render(table.command, root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="*", type=Path, help="docs to check (default: %(default)s)")
    parser.add_argument("--write", action="store_true", help="rewrite stale tables in place")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the repository root: commands run there (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    paths = [p.resolve() for p in args.docs] or doc_paths(root=root)
    stale = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        changes = [(t, new) for t, new in rendered([path], root) if new != t.body]
        for table, new in changes:
            stale += 1
            print(f"{table.doc}:{table.line} ({table.heading}): differs from `{table.command}`")
            if not args.write:
                sys.stdout.writelines(difflib.unified_diff(
                    table.body.splitlines(keepends=True), new.splitlines(keepends=True),
                    "doc", "command"))
        for table, new in reversed(changes):
            text = text[:table.start] + new + text[table.end:]
        if args.write and changes:
            path.write_text(text, encoding="utf-8")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
