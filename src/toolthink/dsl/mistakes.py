"""A catalog of typical mistakes, used to label syntax errors.

In the manner of lark's ``UnexpectedInput.match_examples``: each mistake has a
label (the message shown to the user or the model, saying what is wrong and
the fix) and examples of bad input. An error is labelled with the mistake whose
example fails in the same parser state, after the same token, on the same kind
of character (`toolthink.dsl.parser`). A test loops over this catalog and checks
that every example gets its own label.

Outside its ``>>>`` payloads a command is printable ASCII (and the tab the
catalog knows), so a character beyond that where parsing fails is itself the
mistake, whatever the parser state: `odd_character_label` names it (a
byte-order mark, a control character, an invisible formatting character, a
non-ASCII space, digit or letter) with its code point, instead of the label the
state would give ("keywords are upper case" for a BOM before ``EXIT``).
"""

from __future__ import annotations

import unicodedata

import attrs

__all__ = ["MISTAKES", "Mistake", "is_odd_character", "odd_character_label"]


@attrs.frozen
class Mistake:
    """One kind of typical mistake.

    Attributes:
        label: The message: what is wrong and how to fix it.
        examples: Bad inputs that show the mistake.
        start: The grammar's start symbol the examples are parsed with
            (``"start"`` for a program, ``"turn"`` for one command).
    """

    label: str
    examples: tuple[str, ...]
    start: str = "start"


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "keywords are upper case: write ADDL, REPL, REPW, DELL or EXIT",
        ("addl 1 >>>x", "dell 2", "exit", "Repl 1 >>>x", "DELL 1\nexit"),
    ),
    Mistake(
        "unknown command: the commands are ADDL, REPL, REPW, DELL and EXIT",
        ("ADD 1 >>>x", "DELETE 2", "REPLACE 1 >>>x", "QUIT", "DELL 1\nSTOP", "1 >>>x"),
    ),
    Mistake(
        "a command starts at the beginning of the line: remove the spaces before the keyword",
        (" DELL 1", "\tEXIT", "DELL 1\n EXIT"),
    ),
    Mistake(
        "missing space: put exactly one space between the keyword and the line number",
        ("DELL1", "ADDL2 >>>x", "REPW3 >>>a >>>b", "DELL\t1"),
    ),
    Mistake(
        "missing line number: write the line number (1 to 99999) after the keyword",
        ("DELL", "DELL x", "DELL -1", "REPL >>>x", "DELL \n", "ADDL +2 >>>x"),
    ),
    Mistake(
        "too many spaces: put exactly one space between the keyword and the line number",
        ("DELL  3", "REPL  2 >>>x"),
    ),
    Mistake(
        "line numbers start at 1 and have no leading zeros: write e.g. 3, not 0 or 03",
        ("DELL 0", "DELL 03", "REPL 007 >>>x"),
    ),
    Mistake(
        "missing ' >>>': ADDL, REPL and REPW need a space and >>> after the line number",
        ("ADDL 3 x", "REPL 3", "REPL 3x", "ADDL 3>>>x", "REPW 3 a >>>b", "REPL 3\n", "REPL 3 :x"),
    ),
    Mistake(
        "REPW needs ' >>>' between the old and the new text: REPW <n> >>><old> >>><new>",
        ("REPW 3 >>>a b", "REPW 3 >>> x", "REPW 3 >>>a>>>b", "REPW 3 >>>", "REPW 3 >>>x\n",
         "REPW 3 >>>>x"),
    ),
    Mistake(
        "REPW's old text is empty: give the text to replace (use ADDL to insert a line)",
        ("REPW 3 >>> >>>b",),
    ),
    Mistake(
        "EXIT takes nothing after it: end the line right after EXIT",
        ("EXIT now", "EXIT ", "EXIT 1", "EXIT\t", "EXIT >>>x", "EXITx"),
    ),
    Mistake(
        "DELL takes only a line number: end the line right after it",
        ("DELL 3 x", "DELL 3 ", "DELL 3 >>>x", "DELL 3x", "DELL 3\tx"),
    ),
    Mistake(
        "line number too large: line numbers go up to 99999",
        ("DELL 100000", "DELL 123456", "REPL 100000 >>>x", "REPL 999999 >>>x"),
    ),
    Mistake(
        "line numbers are whole numbers: write e.g. 3, not 3.0 or 3,5",
        ("DELL 1.0", "DELL 3,5", "REPL 1.5 >>>x", "ADDL 2.0 >>>x", "REPW 3,0 >>>a >>>b"),
    ),
    Mistake(
        "carriage return: end each command with \\n alone",
        ("DELL 3\r\n", "EXIT\r\n", "ADDL 3 >>>x\r\n", "REPW 3 >>>a >>>b\r", "DELL 3\r"),
    ),
    Mistake(
        "empty line: write one command per line, with no blank lines",
        ("", "\n", "DELL 3\n\nEXIT", "DELL 3\n\n"),
    ),
    Mistake(
        "one command per turn: send a single command, then stop",
        ("DELL 3\nEXIT", "REPL 1 >>>x\nDELL 2", "EXIT\n\n"),
        start="turn",
    ),
)
"""The catalog, in priority order: an error matching no example exactly takes the
label of the first mistake seen in the same parser state (the same accepted
terminals after the same token), so general mistakes come before special ones
(a number followed by anything but a digit is not "too large")."""


_CONTROL_NAMES = {0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x0B: "LINE TABULATION",
                  0x0C: "FORM FEED", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE"}
"""Names of common control characters (`unicodedata.name` has none for them)."""


def is_odd_character(char: str) -> bool:
    """Whether ``char`` is beyond what a command holds outside its payloads.

    Printable ASCII, tab, line feed and carriage return are ordinary (the
    catalog labels mistakes with them); every other character is odd.
    """
    return not (" " <= char <= "~" or char in "\t\n\r")


def odd_character_label(
    char: str, *, line_start: bool, space_expected: bool, number_expected: bool
) -> str:
    """The label of an odd character (`is_odd_character`) found where parsing failed.

    Args:
        char: The character, e.g. ``"\\ufeff"``.
        line_start: It is the first character of its line (before the keyword).
        space_expected: The parser wanted a space there (before a line number or
            ``>>>``), so a look-alike space is replaced rather than removed.
        number_expected: It is where a line number or its next digit goes, so a
            look-alike digit is replaced rather than removed.

    Returns:
        What the character is, with its code point and Unicode name where it has
        one, and the fix, e.g. ``"a byte-order mark (U+FEFF) before the keyword:
        remove it (save the text as UTF-8 without a BOM)"``.
    """
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(ord(char), "")
    what = f"{code} ({name})" if name else code
    where = " before the keyword" if line_start else ""
    category = unicodedata.category(char)
    if char == "\ufeff":
        return (f"a byte-order mark (U+FEFF){where}: remove it (save the text as UTF-8 "
                "without a BOM)")
    if category == "Cc":
        return f"a control character {what}{where}: remove it"
    if category == "Cf":
        return f"an invisible formatting character {what}{where}: remove it"
    if char.isspace():
        fix = "write a plain space (U+0020) instead" if space_expected else "remove it"
        return f"a non-ASCII space {what}{where}: {fix}"
    if category in ("Nd", "No") or char.isdigit():
        fix = "write line numbers with the ASCII digits 0-9" if number_expected else "remove it"
        return f"a non-ASCII digit {what}{where}: {fix}"
    if category == "Cs":
        return (f"a lone surrogate {what}: the text is not valid Unicode; decode the model's "
                "output with errors='replace'")
    ascii_form = unicodedata.normalize("NFKC", char)
    hint = f" (write {ascii_form!r})" if ascii_form.isascii() and ascii_form.isprintable() else ""
    return f"a non-ASCII character {what}: outside the >>> text a command is plain ASCII{hint}"
