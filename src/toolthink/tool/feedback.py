r"""The text a model reads after a test run.

Plain text, no markup: the editor's renderer appends it under its ``***``
separator. For each failing test it gives the assertion or exception, its
message, the line of the tests and the line of the candidate's code it came
from (the code's line numbers are the editor's); timeouts, crashes and limits are
named as such (crashes with the line being executed when the interpreter's
own dump says; timeouts without it, since it varies from run to run). The
whole text is capped in characters.

Each text the candidate controls (an exception's type name and message, the
source line of a syntax error, anything in the harness's records, which the
candidate can write too) is shown on one line: its line breaks and every other
character ``str.isprintable`` rejects but the tab (control characters such as
ESC and NUL, bidirectional overrides, lone surrogates) are escaped as `repr`
writes them (``\n``, ``\x1b``, ``\u202e``, ``\ud800``), so that no message can
forge a ``***`` separator or numbered code lines in the rendered state, hide
text from a reader, or make the feedback unencodable as UTF-8.
"""

from __future__ import annotations

import attrs

from toolthink.tool.limits import Limits
from toolthink.tool.report import TestFailure, TestOutcome, TestReport

__all__ = ["FeedbackWriter"]

_TRUNCATED = "\n[feedback truncated]"
_CRASHES = {
    "SIGXCPU": "it used more than its CPU time",
    "SIGXFSZ": "it wrote a file larger than the limit",
    "SIGSEGV": "segmentation fault (often a recursion too deep for the C stack)",
    "SIGKILL": "killed (out of memory or a resource limit)",
    "SIGABRT": "aborted",
}


def _one_line(text: str, cap: int) -> str:
    """``text`` with unprintable characters escaped, cut to ``cap`` characters (``...`` ends a cut).

    ``cap`` is the cap `toolthink.tool.report` already applied to the raw text,
    so a printable text (tabs allowed) comes back as it was.
    """
    if not text.isprintable():
        text = "".join(
            char if char == "\t" or char.isprintable() else repr(char)[1:-1] for char in text
        )
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _shown(failure: TestFailure) -> TestFailure:
    """``failure`` with each text on one line (see the module docstring)."""
    return attrs.evolve(
        failure,
        exception=_one_line(failure.exception, 100),
        message=_one_line(failure.message, 500),
        test_source=_one_line(failure.test_source, 200),
    )


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _where(code_line: int | None, test_line: int | None) -> str:
    if code_line is not None:
        return f"line {code_line} of the code"
    if test_line is not None:
        return f"line {test_line} of the tests"
    return ""


@attrs.frozen
class FeedbackWriter:
    """Writes a report's feedback text.

    Attributes:
        timeout: The run's wall-clock limit, seconds (quoted in timeouts).
        limits: The run's limits (quoted when one was hit).
        max_chars: Cap on the text's length, characters.
        max_failures: Most failures listed (quoted when the list stopped).
        explain_seconds: Time budget of the listing, seconds (quoted likewise).
    """

    timeout: float
    limits: Limits
    max_chars: int = 2000
    max_failures: int = 5
    explain_seconds: float = 1.0

    def __call__(self, report: TestReport) -> str:
        """Return the feedback for ``report``, at most ``max_chars`` characters."""
        text = self._text(report)
        if len(text) > self.max_chars:
            keep = max(self.max_chars - len(_TRUNCATED), 0)
            text = text[:keep] + _TRUNCATED
        return text

    def _text(self, report: TestReport) -> str:
        outcome = report.outcome
        if outcome is TestOutcome.PASSED:
            return "All tests passed."
        if outcome is TestOutcome.FAILED:
            return self._failed(report)
        if outcome is TestOutcome.SYNTAX_ERROR:
            return self._syntax(report)
        where = _where(*report.location) if report.location else ""
        at = f" It was running {where}." if where else ""
        if outcome is TestOutcome.TIMEOUT:
            # No location: where a loop happens to be when the clock runs out varies
            # from run to run, and the same code must give the same feedback
            # (demonstrations are deterministic; report.location keeps it).
            return (
                f"Timed out after {_seconds(self.timeout)}: the tests did not finish "
                "(an infinite loop, or a program far too slow)."
            )
        if outcome is TestOutcome.CRASHED:
            reason = _CRASHES.get(report.details, "killed by a signal")
            return f"The program crashed: {reason} ({report.details}).{at}"
        if outcome is TestOutcome.EXITED:
            return (
                f"The program exited (status {report.details}) before the tests finished; "
                "the tests must run to the end."
            )
        if outcome is TestOutcome.OUTPUT_LIMIT:
            return (
                f"The program wrote more than {self.limits.output_bytes} bytes of output and "
                "was stopped."
            )
        if outcome is TestOutcome.LEFTOVER_PROCESSES:
            return (
                "The tests passed, but the program left processes running after it ended; "
                "they were killed, and a run that leaves processes behind fails."
            )
        if outcome is TestOutcome.BAD_TESTS:
            return f"The tests themselves do not compile ({report.details}); the task is broken."
        if outcome is TestOutcome.NO_ASSERTIONS:
            return (f"The tests hold no assertion: {report.details}; they would pass any code, "
                    "so the task is broken.")  # fmt: skip
        return f"The sandbox failed during the run ({_one_line(report.details, 300)})."

    def _syntax(self, report: TestReport) -> str:
        failure = _shown(report.failures[0])
        where = f" at line {failure.code_line}" if failure.code_line else ""
        text = f"The code does not compile: {failure.exception}{where}: {failure.message}"
        if failure.test_source:
            text += f"\n    {failure.test_source}"
            if report.details:
                column = int(report.details.split(":")[1])
                stripped = len(failure.test_source)
                text += "\n    " + " " * max(min(column - 1, stripped), 0) + "^"
        return text

    def _failed(self, report: TestReport) -> str:
        failures = tuple(_shown(failure) for failure in report.failures)
        if not failures:
            return "The tests failed, and the program ended before the failure could be described."
        if len(failures) == 1 and failures[0].test_line is None:
            return "The code failed before the tests ran:\n" + _describe(failures[0])
        count = len(failures)
        head = "1 test failed:" if count == 1 else f"{count} tests failed:"
        lines = [head]
        lines += [_describe(failure) for failure in _merged(failures)]
        if not report.failures_complete:
            lines.append(
                f"(the list stops after {self.max_failures} failures or "
                f"{_seconds(self.explain_seconds)}; more tests may fail)"
            )
        if report.details == "left processes":
            lines.append("The program also left processes running; they were killed.")
        return "\n".join(lines)


def _merged(failures: tuple[TestFailure, ...]) -> list[TestFailure]:
    """Failures with consecutive repeats (a failing assert in a loop) merged."""
    merged: list[TestFailure] = []
    repeats: list[int] = []
    for failure in failures:
        if merged and merged[-1] == failure:
            repeats[-1] += 1
            continue
        merged.append(failure)
        repeats.append(1)
    return [
        attrs.evolve(f, message=f"{f.message} (x{n})".lstrip()) if n > 1 else f
        for f, n in zip(merged, repeats, strict=True)
    ]


def _describe(failure: TestFailure) -> str:
    """Two lines: where (the tests' line and text), then what (exception, message, code line)."""
    if failure.test_line is not None:
        where = f"- line {failure.test_line} of the tests"
        where += f": {failure.test_source}" if failure.test_source else ""
    else:
        where = "- in the code"
    what = failure.exception
    if failure.exception == "SystemExit":
        what = f"SystemExit({failure.message}): the program called exit before the tests ended"
    elif failure.message:
        what += f": {failure.message}"
    if failure.code_line is not None:
        what += f" (raised at line {failure.code_line} of the code)"
    return f"{where}\n  {what}"

