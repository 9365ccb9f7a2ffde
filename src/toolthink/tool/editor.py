r"""The stateful code editor the model drives: `CodeEditor` and its `Snapshot` states.

The text is the source of truth. Each applied command produces a new immutable
`Snapshot`; the editor keeps them all (the original first), the commands that
produced them (`CodeEditor.history`), and can undo. Lines are numbered as CPython
numbers them and line endings follow the policy of `toolthink.tool.lines`.

Validity (CPython's `compile`) and structure (a faithful LibCST tree) are
computed when first asked for and cached on the snapshot; applying a command
computes neither. Commands are stored as opaque objects: the editor knows
nothing of the command language, which reaches it through the
`toolthink.dsl.Editor` protocol (`toolthink.dsl.execute`).

Example:
    >>> from toolthink.dsl import execute, parse_command
    >>> editor = CodeEditor("def add(a, b):\n    return a - b\n")
    >>> execute(parse_command("REPW 2 >>>a - b >>>a + b"), editor).ok
    True
    >>> editor.source
    'def add(a, b):\n    return a + b\n'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from toolthink.tool.errors import (
    EditorUsageError,
    NothingToUndoError,
    SourceDecodeError,
    SourceTypeError,
)
from toolthink.tool.lines import detect_newline, ending_of, position, splice, split_lines, text_of
from toolthink.tool.structure import Structure, parse_structure
from toolthink.tool.validity import Validity, check_python

__all__ = ["CodeEditor", "Snapshot", "decode_source"]

_BOM = "\ufeff"


@attrs.frozen
class Snapshot:
    """One immutable state of the editor.

    Attributes:
        text: The whole source, byte for byte (as a str).
        raw_lines: The lines with their endings; ``"".join(raw_lines) == text``.
        exited: Whether an ``EXIT`` had been applied.
        last_edit: 1-based line where the last edit happened (the first changed
            line, or the line that took a deleted line's place), or None for the
            original text and for an empty file.
    """

    text: str
    raw_lines: tuple[str, ...] = attrs.field(eq=False, repr=False)
    exited: bool = False
    last_edit: int | None = None
    _cache: dict[str, Any] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    @classmethod
    def from_text(cls, text: str) -> Snapshot:
        """Build the snapshot of an original text (no edit yet, not exited)."""
        return cls(text, split_lines(text))

    @property
    def line_count(self) -> int:
        """Number of lines, as CPython counts them (0 for an empty text)."""
        return len(self.raw_lines)

    @property
    def lines(self) -> tuple[str, ...]:
        """Each line's text, without its ending."""
        if "lines" not in self._cache:
            self._cache["lines"] = tuple(map(text_of, self.raw_lines))
        lines: tuple[str, ...] = self._cache["lines"]
        return lines

    def line(self, number: int) -> str:
        """Return line ``number`` (1-based) without its ending.

        Raises:
            EditorUsageError: ``number`` is not a line of the text.
        """
        self._check_number(number)
        return text_of(self.raw_lines[number - 1])

    def ending(self, number: int) -> str:
        r"""Return the ending of line ``number``: ``"\n"``, ``"\r\n"``, ``"\r"`` or ``""``.

        Raises:
            EditorUsageError: ``number`` is not a line of the text.
        """
        self._check_number(number)
        return ending_of(self.raw_lines[number - 1])

    @property
    def validity(self) -> Validity:
        """Whether CPython compiles the text (`toolthink.tool.validity`); cached."""
        if "validity" not in self._cache:
            self._cache["validity"] = check_python(self.text)
        validity: Validity = self._cache["validity"]
        return validity

    @property
    def structure(self) -> Structure:
        """A faithful LibCST tree, or why there is none (`toolthink.tool.structure`); cached.

        Costs a LibCST parse the first time (milliseconds); keep it off per-command paths.
        """
        if "structure" not in self._cache:
            self._cache["structure"] = parse_structure(self.text, self.validity)
        structure: Structure = self._cache["structure"]
        return structure

    def _check_number(self, number: int) -> None:
        if type(number) is not int or not 1 <= number <= len(self.raw_lines):
            msg = (
                f"line {number!r} does not exist: the text has {len(self.raw_lines)} lines; "
                "pass an int from 1 to the line count"
            )
            raise EditorUsageError(msg)


def decode_source(data: bytes) -> str:
    """Decode a source file's bytes as UTF-8, strictly.

    A leading UTF-8 byte-order mark is dropped, as CPython drops it when it
    reads a file. Coding declarations (PEP 263) are not honoured: the bytes
    must be UTF-8.

    Args:
        data: The file's bytes.

    Returns:
        The text.

    Raises:
        SourceDecodeError: ``data`` is not valid UTF-8; the error gives the byte
            offset, line and column of the first bad byte.
        SourceTypeError: ``data`` is not bytes-like.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        msg = f"source bytes must be bytes, not {type(data).__name__}: pass the file's bytes"
        raise SourceTypeError(msg)
    try:
        text = bytes(data).decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        prefix = e.object[: e.start].decode("utf-8")
        line, column = position(prefix + "?", len(prefix))
        bad = e.object[e.start : e.end].hex(" ")
        msg = (
            f"source is not valid UTF-8: byte(s) {bad} at offset {e.start} (line {line}, "
            f"column {column}): {e.reason}; re-encode the file as UTF-8, or decode it "
            "yourself (e.g. data.decode('latin-1')) and pass the str"
        )
        raise SourceDecodeError(msg, offset=e.start, line=line, column=column) from e
    return text.removeprefix(_BOM)


class CodeEditor:
    r"""A stateful editor over one Python source file.

    It satisfies `toolthink.dsl.Editor`, so `toolthink.dsl.execute` applies
    commands to it. States are immutable `Snapshot` values: ``snapshots[0]`` is
    the original and ``history[i]`` is the command that turned ``snapshots[i]``
    into ``snapshots[i + 1]``. Any text is accepted, valid Python or not: line
    by line repairs pass through invalid states.

    Args:
        source: The file's text. Lines end at ``\n``, ``\r\n`` or ``\r``
            only; endings and a missing final newline are kept byte for byte.

    Raises:
        SourceTypeError: ``source`` is not a str (use `from_bytes` for bytes).

    Attributes:
        newline: The ending a new line gets (`toolthink.tool.lines.detect_newline`).
        final_newline: Whether the file ends with a line ending; kept through
            every edit (an empty source counts as ending with one).
    """

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            hint = " use CodeEditor.from_bytes for bytes" if isinstance(source, bytes) else ""
            msg = f"source must be a str, not {type(source).__name__}:{hint or ' pass the text'}"
            raise SourceTypeError(msg)
        original = Snapshot.from_text(source)
        raw = original.raw_lines
        self.newline: str = detect_newline(raw)
        self.final_newline: bool = not raw or ending_of(raw[-1]) != ""
        self._snapshots: list[Snapshot] = [original]
        self._history: list[object] = []

    @classmethod
    def from_bytes(cls, data: bytes) -> CodeEditor:
        """Open a source file's bytes, decoded strictly as UTF-8 (`decode_source`).

        Raises:
            SourceDecodeError: ``data`` is not valid UTF-8 (a `ValueError`).
        """
        return cls(decode_source(data))

    # -- state ---------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The current state."""
        return self._snapshots[-1]

    @property
    def original(self) -> Snapshot:
        """The state the editor was opened with."""
        return self._snapshots[0]

    @property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """Every state, the original first; one more than `history`."""
        return tuple(self._snapshots)

    @property
    def history(self) -> tuple[object, ...]:
        """The commands applied, in order (undone ones removed)."""
        return tuple(self._history)

    @property
    def source(self) -> str:
        """The current text."""
        return self._snapshots[-1].text

    @property
    def line_count(self) -> int:
        """Number of lines in the current text, as CPython counts them."""
        return len(self._snapshots[-1].raw_lines)

    @property
    def exited(self) -> bool:
        """Whether an ``EXIT`` was applied."""
        return self._snapshots[-1].exited

    @property
    def validity(self) -> Validity:
        """Whether CPython compiles the current text."""
        return self._snapshots[-1].validity

    @property
    def structure(self) -> Structure:
        """The current text's faithful LibCST tree, or why there is none."""
        return self._snapshots[-1].structure

    def line(self, number: int) -> str:
        """Return line ``number`` (1-based) of the current text, without its ending.

        Raises:
            EditorUsageError: ``number`` is not a line of the current text.
        """
        return self._snapshots[-1].line(number)

    # -- changes -------------------------------------------------------------

    def splice(self, start: int, stop: int, lines: Sequence[str], *, command: object) -> None:
        r"""Replace lines ``start+1 .. stop`` (a 0-based, half-open slice) by ``lines``.

        New lines take the endings of the lines they replace, in order; lines
        beyond those get `newline` (`toolthink.tool.lines.splice`).

        Args:
            start: 0-based index of the first line replaced.
            stop: 0-based index one past the last line replaced; ``start == stop``
                inserts before line ``start + 1`` (or appends at the end).
            lines: The new lines' text, without endings.
            command: Recorded in `history` as given.

        Raises:
            EditorUsageError: The slice is out of range, a line holds ``\r`` or
                ``\n`` or is not a str, or the editor has exited. `execute`
                checks all of these first, so this signals a bug in the caller.
        """
        current = self._snapshots[-1]
        count = len(current.raw_lines)
        if current.exited:
            msg = "the editor has exited: no change can follow EXIT (undo the EXIT first)"
            raise EditorUsageError(msg)
        if not (type(start) is int and type(stop) is int and 0 <= start <= stop <= count):
            msg = (
                f"slice [{start!r}:{stop!r}] is out of range: the text has {count} lines; "
                f"pass ints with 0 <= start <= stop <= {count}"
            )
            raise EditorUsageError(msg)
        texts = tuple(lines)
        for text in texts:
            if not isinstance(text, str) or "\n" in text or "\r" in text:
                msg = f"line {text!r} is not one line of text: pass str values without \\r or \\n"
                raise EditorUsageError(msg)
        raw = splice(
            current.raw_lines, start, stop, texts,
            newline=self.newline, final_newline=self.final_newline,
        )
        last_edit = min(start + 1, len(raw)) or None
        self._snapshots.append(Snapshot("".join(raw), raw, last_edit=last_edit))
        self._history.append(command)

    def exit(self, *, command: object) -> None:
        """Record an ``EXIT``: the text stays, `exited` becomes True.

        Raises:
            EditorUsageError: The editor has already exited.
        """
        current = self._snapshots[-1]
        if current.exited:
            msg = "the editor has already exited: EXIT can be applied once"
            raise EditorUsageError(msg)
        self._snapshots.append(attrs.evolve(current, exited=True))
        self._history.append(command)

    def undo(self) -> object:
        """Go back to the previous snapshot, exactly, and drop the last command.

        Returns:
            The command undone.

        Raises:
            NothingToUndoError: No command has been applied (an `IndexError`).
        """
        if not self._history:
            msg = "nothing to undo: no command has been applied since the editor was opened"
            raise NothingToUndoError(msg)
        self._snapshots.pop()
        return self._history.pop()

    def __repr__(self) -> str:
        return (
            f"<CodeEditor {self.line_count} lines, {len(self._history)} commands"
            f"{', exited' if self.exited else ''}>"
        )
