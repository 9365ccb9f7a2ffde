"""The HumanEval test convention, with the tests' ``check`` under a reserved name.

HumanEval(Fix) and MBPP (MBXP) tests define ``check(candidate)`` and call
``check(<entry_point>)``. The tests run after the candidate's code in the same
module (`toolthink.tool.run_tests`), so a candidate whose own function is named
``check`` was replaced by the tests' function: ``check(check)`` then called the
tests' function on itself and failed (MBPP/56, 349, 899 and 967, whose correct
references were lost that way). The loaders rename the tests' ``check`` to
`CHECK_FUNCTION`, a name no benchmark program defines, so the tests never
shadow the candidate's names.
"""

from __future__ import annotations

import ast
import io
import tokenize

from toolthink.tasks.sources import DatasetFormatError

__all__ = ["CHECK_FUNCTION", "reserve_check_name"]

CHECK_FUNCTION = "_toolthink_check"
"""The name the tests' ``check`` function takes (`reserve_check_name`)."""

_CHECK = "check"


def reserve_check_name(tests: str, where: str) -> str:
    """Rename the tests' ``check`` function, and every use of it, to `CHECK_FUNCTION`.

    Renaming every identifier ``check`` in the tests keeps their meaning: once
    the tests define ``check`` at module level, each use of the name in them
    refers to that definition. Forms where a rename could change the meaning
    (an attribute ``x.check``, a keyword argument ``check=``, a parameter or an
    f-string using the name) are refused, so the conversion cannot drift
    silently.

    Args:
        tests: Test source that defines ``check`` once at module level.
        where: What the tests belong to, for messages (e.g. ``"MBPP/56"``).

    Returns:
        The tests with each identifier ``check`` renamed; comments and strings
        are unchanged.

    Raises:
        DatasetFormatError: The tests are not valid Python, define no (or more
            than one) module-level ``check``, already use `CHECK_FUNCTION`, or
            use ``check`` in a form other than a plain name.
    """
    try:
        tree = ast.parse(tests)
        tokens = list(tokenize.generate_tokens(io.StringIO(tests).readline))
    except (SyntaxError, tokenize.TokenError) as e:
        msg = f"{where}: the tests are not valid Python ({e}); fix the data file"
        raise DatasetFormatError(msg) from e
    definitions = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == _CHECK]
    if len(definitions) != 1:
        msg = (
            f"{where}: the tests define {len(definitions)} module-level `check` functions, "
            "expected 1 (the HumanEval convention); extend the loader for this form"
        )
        raise DatasetFormatError(msg)
    if any(t.type == tokenize.NAME and t.string == CHECK_FUNCTION for t in tokens):
        msg = f"{where}: the tests already use the reserved name {CHECK_FUNCTION!r}"
        raise DatasetFormatError(msg)
    uses = sum(isinstance(n, ast.Name) and n.id == _CHECK for n in ast.walk(tree))
    names = [t for t in tokens if t.type == tokenize.NAME and t.string == _CHECK]
    if len(names) != uses + 1:
        msg = (
            f"{where}: the tests use `check` {len(names)} times but only {uses + 1} are the "
            "definition or plain names (an attribute, keyword, parameter or f-string "
            "uses it); extend the loader for this form"
        )
        raise DatasetFormatError(msg)
    lines = tests.splitlines(keepends=True)
    for token in reversed(names):  # right to left, so earlier columns stay valid
        row, column = token.start
        line = lines[row - 1]
        lines[row - 1] = line[:column] + CHECK_FUNCTION + line[column + len(_CHECK) :]
    return "".join(lines)
