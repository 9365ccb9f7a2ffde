"""The Chain-of-Edits command language: grammar, IR, parser, printer, interpreter.

``grammar/toolthink.lark`` is the specification; `parse` turns text into IR,
`format_program` prints IR back as canonical text, `check` reports semantic
problems, and `execute` applies IR to an editor through the `Editor` protocol.
This package depends on the standard library, lark and attrs only.

Example:
    >>> from toolthink.dsl import parse, format_program
    >>> program = parse("REPW 2 >>>a - b >>>a + b\\nEXIT\\n")
    >>> program.commands[0]
    ReplaceText(line=2, old='a - b', new='a + b')
    >>> format_program(program)
    'REPW 2 >>>a - b >>>a + b\\nEXIT\\n'
"""

from __future__ import annotations

from toolthink.dsl.check import Diagnostic, check
from toolthink.dsl.errors import DslSyntaxError
from toolthink.dsl.execute import Applied, Editor, Exited, Outcome, Rejected, Step, execute
from toolthink.dsl.grammar import grammar_text, lark_grammar
from toolthink.dsl.ir import (
    MAX_LINE,
    SEPARATOR,
    AddLine,
    Command,
    DeleteLine,
    Exit,
    InvalidCommandError,
    Program,
    ReplaceLine,
    ReplaceText,
    Span,
)
from toolthink.dsl.mistakes import MISTAKES, Mistake
from toolthink.dsl.parser import parse, parse_command
from toolthink.dsl.printer import format_command, format_program

__all__ = [
    "MAX_LINE",
    "MISTAKES",
    "SEPARATOR",
    "AddLine",
    "Applied",
    "Command",
    "DeleteLine",
    "Diagnostic",
    "DslSyntaxError",
    "Editor",
    "Exit",
    "Exited",
    "InvalidCommandError",
    "Mistake",
    "Outcome",
    "Program",
    "Rejected",
    "ReplaceLine",
    "ReplaceText",
    "Span",
    "Step",
    "check",
    "execute",
    "format_command",
    "format_program",
    "grammar_text",
    "lark_grammar",
    "parse",
    "parse_command",
]
