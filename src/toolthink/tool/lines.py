r"""Lines as CPython numbers them, and the policy for their endings.

CPython ends a line at ``\n``, ``\r\n`` or ``\r`` and nowhere else: a form
feed, a vertical tab, ``\x1c``-``\x1e``, ``\x85``, ``\u2028`` and ``\u2029``
(where `str.splitlines` also splits) stay inside the line. Lines here are
"raw": their text followed by their ending, so that joining them gives the
source back byte for byte.

Ending policy (`splice`), for the edits the command language can express:

* A line that replaces another keeps that line's ending (``REPL``, ``REPW``).
* A new line (``ADDL``) gets the file's ``newline``: the ending most lines of
  the original source use (ties go to the one seen first; ``\n`` when the
  source has no line ending at all). See `detect_newline`.
* Whether the file ends with a line ending is a property of the file, decided
  by the original source and kept through every edit: appending after a final
  line without ending gives that line the ``newline`` and leaves the new line
  without one; deleting such a final line takes the ending off the line before
  it. So ``ADDL``/``DELL`` at the end of ``"a\nb"`` give ``"a\nb\nc"`` and
  ``"a"``, and their inverses restore the text exactly.
* An empty final line cannot go without an ending (the text would not have
  that line), so it keeps one; it drops it again once it gets text back.
* A lone ``\r`` ending followed by an empty line ending in ``\n`` would read
  as one ``\r\n``, losing a line; the empty line's ending becomes ``\r\n``.
  Only files that mix ``\r`` with ``\n`` endings can meet this case.

In a file with one kind of ending, applying a command and then its inverse
restores the text byte for byte. In a file that mixes kinds, a deleted line
that is added back gets ``newline``, which may differ from its old ending; the
lines' text is still restored exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "ENDINGS",
    "detect_newline",
    "ending_of",
    "position",
    "splice",
    "split_lines",
    "text_of",
]

ENDINGS = ("\n", "\r\n", "\r")
"""The three line endings CPython recognizes."""

_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
# One raw line: text then an ending, or (only at the end of the source) text
# without an ending. Neither alternative matches the empty string.


def split_lines(source: str) -> tuple[str, ...]:
    """Split ``source`` into raw lines, numbered as CPython numbers them.

    Args:
        source: Any text.

    Returns:
        The lines with their endings; ``"".join`` of them is ``source``. An
        empty source has no lines; a final line without an ending is a line.
    """
    return tuple(_LINE.findall(source))


def ending_of(raw: str) -> str:
    r"""Return the ending of a raw line: ``"\n"``, ``"\r\n"``, ``"\r"`` or ``""``."""
    if raw.endswith("\n"):
        return "\r\n" if raw.endswith("\r\n") else "\n"
    return "\r" if raw.endswith("\r") else ""


def text_of(raw: str) -> str:
    """Return the text of a raw line, without its ending."""
    return raw.rstrip("\r\n")


def position(source: str, index: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of character ``index`` of ``source``.

    Lines are CPython's; columns count characters (a tab counts one). A
    character of a line ending belongs to the line it ends.
    """
    before = source[:index]
    breaks = before.count("\n") + before.count("\r") - before.count("\r\n")
    if before.endswith("\r") and source.startswith("\n", index):
        breaks -= 1  # index points at the "\n" of a "\r\n"
        before = before[:-1]
    return breaks + 1, len(before) - max(before.rfind("\n"), before.rfind("\r"))


def detect_newline(lines: Sequence[str]) -> str:
    r"""Return the ending new lines get: the most common one in ``lines``.

    Args:
        lines: Raw lines, as `split_lines` returns them.

    Returns:
        The ending most lines use, ties going to the one seen first, or
        ``"\n"`` when no line has an ending.
    """
    counts = Counter(e for e in map(ending_of, lines) if e)
    if not counts:
        return "\n"
    # Counter keeps first-seen order, and most_common is stable for ties.
    return counts.most_common(1)[0][0]


def splice(
    lines: tuple[str, ...],
    start: int,
    stop: int,
    texts: Sequence[str],
    *,
    newline: str,
    final_newline: bool,
) -> tuple[str, ...]:
    r"""Replace ``lines[start:stop]`` by lines holding ``texts``, following the ending policy.

    Args:
        lines: Raw lines (`split_lines` output, or a previous splice's).
        start: 0-based index of the first line replaced.
        stop: 0-based index one past the last line replaced (``start`` inserts).
        texts: The new lines' text, without endings; none holds ``\r`` or ``\n``.
        newline: The ending a new line gets.
        final_newline: Whether the file ends with a line ending.

    Returns:
        The new raw lines. Joined, they split back (`split_lines`) into exactly
        these lines.
    """
    n_old = stop - start
    new = [
        text + (ending_of(lines[start + i]) if i < n_old else newline)
        for i, text in enumerate(texts)
    ]
    out = [*lines[:start], *new, *lines[stop:]]
    low = max(start - 1, 0)
    if stop == len(lines):
        # The edit reached the end of the file: settle the endings from the
        # line before the edit to the last line.
        last = len(out) - 1
        for i in range(low, len(out)):
            text, ending = text_of(out[i]), ending_of(out[i])
            if i == last and not final_newline and text:
                ending = ""
            elif not ending:
                ending = newline
            out[i] = text + ending
    # A lone "\r" followed by an empty "\n" line would fuse into one "\r\n".
    for i in range(low, min(start + len(new) + 1, len(out) - 1)):
        if out[i + 1] == "\n" and out[i].endswith("\r"):
            out[i + 1] = "\r\n"
    return tuple(out)
