r"""The state the model reads after each command: numbered code, ``***``, feedback.

Format (fixed; training data and prompts depend on it)::

    1|def add(a, b):
    2|    return a - b
    ***
    <syntax error, if any>
    <feedback from the caller>

* Each code line is its 1-based number (CPython's numbering, no padding), a
  ``|``, then the line's text exactly as in the file (tabs, trailing spaces
  and form feeds included), then ``\n``. The file's own line endings are not
  shown: the commands cannot change them.
* ``|`` rather than a space or ``L<n>``: the number ends at the first
  non-digit, so a line starting with a digit stays unambiguous, and a
  punctuation mark keeps the indentation after it a token run of its own. With
  a space, byte-level BPE pre-tokenizers merge the separator into the
  indentation, so ``12     return`` tokenizes unlike ``    return`` in the
  file and in the model's ``REPL 12 >>>    return`` payloads. (Checked with
  the ``tokenizers`` library: GPT-2's ByteLevel and a GPT-4-style split give
  ``12 | ___ _return`` for ``12|    return`` and ``12 ____ _return`` for
  ``12     return``, where the file's own line gives ``___ _return``.)
* An empty file renders as the line ``(empty file)``.
* Files longer than `RenderConfig.full_max_lines` show a window of
  `RenderConfig.window` lines around the focus (by default the last edit), with
  ``(N more lines above)`` and ``(N more lines below)`` in place of the rest
  (``line`` when N is 1). SWE-agent's ablations (Yang et al., 2024,
  arXiv 2405.15793) found a 100-line file viewer better than whole files.
* ``***`` alone on a line separates code from feedback. Code lines cannot be
  confused with it, since they start with a digit.
* After it, when CPython does not compile the code, one line
  ``<Kind> at line <n>, column <c>: <message>`` (`toolthink.tool.validity`),
  then the caller's feedback (e.g. a rejected command's message and test
  results). The render ends with ``\n``.
"""

from __future__ import annotations

import attrs

from toolthink.tool.editor import CodeEditor, Snapshot
from toolthink.tool.lines import text_of
from toolthink.tool.validity import Invalid
from toolthink.validators import positive_int

__all__ = ["SEPARATOR", "RenderConfig", "feedback_text", "render"]

SEPARATOR = "***"
"""The line between code and feedback."""


@attrs.frozen
class RenderConfig:
    """How much code a render shows.

    Attributes:
        full_max_lines: Files with at most this many lines are shown whole.
        window: How many lines a longer file shows around the focus.
    """

    full_max_lines: int = attrs.field(
        default=100, validator=positive_int,
        metadata={"help": "files with at most this many lines are shown whole"},
    )
    window: int = attrs.field(
        default=100, validator=positive_int,
        metadata={"help": "lines shown around the focus (last edit) in longer files"},
    )


def render(
    state: CodeEditor | Snapshot,
    feedback: str = "",
    *,
    config: RenderConfig | None = None,
    focus: int | None = None,
) -> str:
    r"""Render the state the model reads: numbered code, ``***``, then feedback.

    Args:
        state: An editor (its current snapshot is rendered) or a snapshot.
        feedback: Text for the model after the separator, e.g. test results;
            a final ``\n`` is added when missing.
        config: Window sizes; `RenderConfig()` when None.
        focus: 1-based line to centre a window on; defaults to the last edit,
            else line 1. Ignored when the whole file is shown; clamped to the file.

    Returns:
        The rendered text (format in the module docstring), ending with ``\n``.
    """
    snapshot = state.snapshot if isinstance(state, CodeEditor) else state
    config = config or RenderConfig()
    lines = snapshot.raw_lines
    count = len(lines)
    out: list[str] = []
    if count == 0:
        out.append("(empty file)\n")
    else:
        first, last = 1, count  # 1-based, inclusive
        if count > config.full_max_lines:
            centre = focus if focus is not None else snapshot.last_edit or 1
            centre = min(max(centre, 1), count)
            size = min(config.window, count)
            first = min(max(centre - size // 2, 1), count - size + 1)
            last = first + size - 1
        if first > 1:
            out.append(_more(first - 1, "above"))
        out.extend(f"{n}|{text_of(lines[n - 1])}\n" for n in range(first, last + 1))
        if last < count:
            out.append(_more(count - last, "below"))
    out.append(SEPARATOR + "\n")
    out.append(feedback_text(snapshot, feedback))
    return "".join(out)


def feedback_text(state: CodeEditor | Snapshot, feedback: str = "") -> str:
    r"""What `render` writes below the ``***`` line: the compile error, if any, then ``feedback``.

    Returns:
        The text, each line ending with ``\n``; empty when the code compiles
        and ``feedback`` is empty.
    """
    snapshot = state.snapshot if isinstance(state, CodeEditor) else state
    out = []
    validity = snapshot.validity
    if isinstance(validity, Invalid):
        out.append(validity.describe() + "\n")
    if feedback:
        out.append(feedback if feedback.endswith("\n") else feedback + "\n")
    return "".join(out)


def _more(n: int, where: str) -> str:
    return f"({n} more line{'s' if n != 1 else ''} {where})\n"
