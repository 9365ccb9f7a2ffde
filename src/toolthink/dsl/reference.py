"""The language reference, generated from ``grammar/toolthink.lark``.

Each rule and terminal of the grammar is documented by the ``//`` comment block
right above it; a comment line ``example: ...`` gives an example (``\\n`` in it
stands for a line break). The file's opening comment is the introduction.
`docs/language.md` is this module's output; ``tests/dsl/test_reference.py``
fails when it is stale and prints the command that regenerates it:

    python -m toolthink.dsl.reference > docs/language.md
"""

from __future__ import annotations

import sys

import attrs

from toolthink.dsl.grammar import TERMINAL_NAMES, Definition, grammar_items, grammar_text

__all__ = ["Entry", "entries", "markdown"]


@attrs.frozen
class Entry:
    """One documented rule or terminal.

    Attributes:
        name: The rule (lower case) or terminal (upper case) name.
        definition: Its right-hand side, as written in the grammar.
        comment: The comment block above it, without ``//`` and example lines.
        examples: Example texts, with ``\\n`` turned into line breaks.
    """

    name: str
    definition: str
    comment: str
    examples: tuple[str, ...]

    @property
    def is_terminal(self) -> bool:
        """True for terminals (upper-case names)."""
        return self.name.isupper()


def _split_grammar(text: str) -> tuple[str, list[Entry]]:
    items = grammar_items(text)
    intro: list[str] = []
    for item in items:  # the first comment block, if a blank line ends it before any definition
        if isinstance(item, Definition):
            intro = []
            break
        if item.strip().startswith("//"):
            intro.append(item.strip()[2:].removeprefix(" "))
        elif intro:
            break
    found = []
    for item in items:
        if isinstance(item, Definition):
            examples = tuple(b.removeprefix("example:").strip().replace("\\n", "\n")
                             for b in item.comment if b.startswith("example:"))
            comment = "\n".join(b for b in item.comment if not b.startswith("example:")).strip()
            found.append(Entry(item.name, item.body, comment, examples))
    return "\n".join(intro).strip(), found


def entries() -> list[Entry]:
    """Return the grammar's documented rules and terminals, in file order."""
    return _split_grammar(grammar_text())[1]


def _paragraphs(comment: str) -> str:
    # "<text>" would read as an HTML tag in Markdown.
    return comment.replace("<", "&lt;").replace(">", "&gt;")


def markdown() -> str:
    """Return the language reference as Markdown (the text of docs/language.md)."""
    intro, found = _split_grammar(grammar_text())
    out = [
        "# The toolthink command language",
        "",
        "<!-- Generated from grammar/toolthink.lark by "
        "`python -m toolthink.dsl.reference > docs/language.md`. Do not edit. -->",
        "",
        _paragraphs(intro),
        "",
        "## Rules",
        "",
    ]
    for entry in (e for e in found if not e.is_terminal):
        out += [f"### `{entry.name}`", "", "```lark", f"{entry.name}: {entry.definition}", "```",
                ""]
        if entry.comment:
            out += [_paragraphs(entry.comment), ""]
        for example in entry.examples:
            out += ["Example:", "", "```text", example.rstrip("\n"), "```", ""]
    out += ["## Terminals", "", "| terminal | definition | in error messages | notes |",
            "|---|---|---|---|"]
    for entry in (e for e in found if e.is_terminal):
        notes = _paragraphs(" ".join(entry.comment.split())).replace("|", "\\|")
        definition = entry.definition.replace("|", "\\|")
        shown = TERMINAL_NAMES.get(entry.name, "").replace("|", "\\|")
        out.append(f"| `{entry.name}` | `{definition}` | {shown} | {notes} |")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
