"""The result of one sandboxed test run, and how it is read from the launcher's answer.

Pass or fail is decided here, on the host, from one thing only: a line
``V <secret> PASS`` on the harness's record channel, where ``<secret>`` is the
run's random secret that only the harness's guard knows (`toolthink.tool._harness`),
or, with the tests in a process of their own, only that process
(`toolthink.tool._tests_runner`). Either writes it only when the tests ran to
the end *and ran at least one ``assert``* (``V <secret> EMPTY`` otherwise:
`TestOutcome.NO_ASSERTIONS`). The run passes when that line is present, no
``V <secret> FAIL`` line is, and the run neither timed out, overflowed its
output cap nor left processes behind.
The exit status and stdout never count: ``sys.exit(0)`` before the asserts
exits with status 0, and a program can print anything.
"""

from __future__ import annotations

import enum
import json
import re
import signal
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from toolthink.tool.boundary import TestsProcess
from toolthink.tool.isolation import Isolation

__all__ = ["TestFailure", "TestOutcome", "TestReport", "read_report"]


class TestOutcome(enum.Enum):
    """How a run ended; only `PASSED` passes."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    PASSED = "passed"
    FAILED = "failed"
    """A test failed or the code raised (SystemExit included)."""
    SYNTAX_ERROR = "syntax error"
    """The candidate code does not compile."""
    TIMEOUT = "timeout"
    """The wall-clock limit passed before the tests finished."""
    CRASHED = "crashed"
    """The interpreter was killed by a signal (segfault, CPU or file-size limit)."""
    EXITED = "exited"
    """The process ended before the tests finished (``os._exit``, for one)."""
    OUTPUT_LIMIT = "output limit"
    """The run wrote more than the captured-output cap."""
    LEFTOVER_PROCESSES = "leftover processes"
    """The tests passed but the run left processes running after it ended."""
    BAD_TESTS = "bad tests"
    """The tests themselves do not compile: the task is broken, not the candidate."""
    NO_ASSERTIONS = "no assertions"
    """The tests hold no ``assert``, or ran to the end without running one (checks
    defined and never called): they would pass anything, so they pass nothing."""
    SANDBOX_ERROR = "sandbox error"
    """The sandbox itself stopped or stopped answering during the run."""


@attrs.frozen
class TestFailure:
    """One failing test (or the error that stopped the run).

    Attributes:
        exception: The exception's type name, e.g. ``"AssertionError"``.
        message: Its message (capped at 500 characters), possibly empty.
        code_line: 1-based line of the candidate code where it was raised (the
            deepest frame in the code), or None when it did not pass through it.
        test_line: 1-based line of the tests being run (the deepest frame in the
            tests), or None.
        test_source: The text of that tests line, stripped; empty when unknown.
    """

    __test__: ClassVar[bool] = False

    exception: str
    message: str
    code_line: int | None
    test_line: int | None
    test_source: str = ""


@attrs.frozen
class TestReport:
    """The result of running a candidate against its tests in the sandbox.

    Attributes:
        passed: True only when the harness's secret verdict said PASS and the run
            was otherwise clean.
        outcome: How the run ended.
        feedback: Plain text for the model (capped), see `toolthink.tool.feedback`.
        failures: The failing tests, first first (at most ``max_failures``).
        isolation: The isolation the run actually had.
        output: Captured stdout and stderr, interleaved, capped in bytes.
        duration: Wall-clock seconds of the run inside the sandbox.
        exit_status: The interpreter's exit code, or minus the signal number that
            killed it; None when no interpreter ran.
        location: ``(code_line, test_line)`` where a timed-out or crashed run was
            executing, from the interpreter's own traceback dump, else None.
        failures_complete: False when the list of failures was cut short (by
            ``max_failures`` or by the time limit).
        details: A short fact about the outcome: the signal's name for
            `TestOutcome.CRASHED`, ``line:column`` for `TestOutcome.SYNTAX_ERROR`,
            the exit status for `TestOutcome.EXITED`, which cap overflowed
            (``output``/``records``), the compiler's message for
            `TestOutcome.BAD_TESTS`, why no assertion ran for
            `TestOutcome.NO_ASSERTIONS`, what broke for `TestOutcome.SANDBOX_ERROR`.
        tests_process: Where the tests ran (`toolthink.tool.boundary`): in the
            candidate's process, or in one of their own.
    """

    __test__: ClassVar[bool] = False

    passed: bool
    outcome: TestOutcome
    feedback: str
    failures: tuple[TestFailure, ...]
    isolation: Isolation
    output: str
    duration: float
    exit_status: int | None
    location: tuple[int | None, int | None] | None = None
    failures_complete: bool = True
    details: str = ""
    tests_process: TestsProcess = TestsProcess.SAME


_DUMP_HEADERS = ("Timeout (", "Fatal Python error")
_RECORD_CHARS = 8192
"""Longest record line read; the harness's are under 2,000 (messages are cut at 500)."""
_FRAME = re.compile(r'^\s*File "(<code>|<tests>)", line (\d+)')


def _verdicts(records: str, secret: str) -> set[str]:
    """The verdict words (``PASS``/``FAIL``/``EMPTY``) on lines that carry the run's secret.

    ``EMPTY``: the tests ran to the end without running an ``assert``.
    """
    lines = set(records.splitlines())
    return {word for word in ("PASS", "FAIL", "EMPTY") if f"V {secret} {word}" in lines}


def _records(records: str) -> list[dict[str, Any]]:
    found = []
    for line in records.splitlines():
        if not line.startswith("R {") or len(line) > _RECORD_CHARS:
            continue
        try:
            value = json.loads(line[2:])
        except (ValueError, RecursionError):  # the candidate can write fd 3 too: skip junk
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def _location(records: str) -> tuple[int | None, int | None] | None:
    """Where the interpreter was, from faulthandler's dump (most recent call first)."""
    code_line = test_line = None
    in_dump = False
    for line in records.splitlines():
        if line.startswith(_DUMP_HEADERS):
            in_dump = True
            continue
        match = _FRAME.match(line) if in_dump else None
        if match is None:
            continue
        if match.group(1) == "<code>" and code_line is None:
            code_line = int(match.group(2))
        elif match.group(1) == "<tests>" and test_line is None:
            test_line = int(match.group(2))
    return None if code_line is None and test_line is None else (code_line, test_line)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _failure(record: Mapping[str, Any], tests_lines: list[str]) -> TestFailure:
    test_line = _int_or_none(record.get("test_line"))
    source = ""
    if test_line is not None and test_line <= len(tests_lines):
        source = tests_lines[test_line - 1].strip()
    return TestFailure(
        exception=str(record.get("type") or "Exception")[:100],
        message=str(record.get("message") or "")[:500],
        code_line=_int_or_none(record.get("code_line")),
        test_line=test_line,
        test_source=source[:200],
    )


@attrs.frozen
class _Reading:
    outcome: TestOutcome
    failures: tuple[TestFailure, ...]
    complete: bool
    details: str


def _read(result: Mapping[str, Any], secret: str, tests: str) -> _Reading:
    records_text = str(result.get("records", ""))
    verdicts = _verdicts(records_text, secret)
    records = _records(records_text)
    tests_lines = tests.splitlines()
    status = result.get("status")
    if result.get("overflow") == "output":
        return _Reading(TestOutcome.OUTPUT_LIMIT, (), True, "output")
    if result.get("overflow") == "records":
        return _Reading(TestOutcome.OUTPUT_LIMIT, (), True, "records")
    if "FAIL" in verdicts:
        syntax = [r for r in records if r.get("kind") == "syntax"]
        if syntax:
            record = syntax[0]
            line = _int_or_none(record.get("line"))
            column = _int_or_none(record.get("column"))
            failure = TestFailure(
                exception=str(record.get("type") or "SyntaxError")[:100],
                message=str(record.get("message") or "")[:500],
                code_line=line,
                test_line=None,
                test_source=str(record.get("text") or "")[:200],
            )
            where = f"{line}:{column}" if line is not None and column is not None else ""
            return _Reading(TestOutcome.SYNTAX_ERROR, (failure,), True, where)
        listed = [r for r in records if r.get("kind") == "failure" and r.get("phase") == 2]
        first = [r for r in records if r.get("kind") == "failure" and r.get("phase") == 1]
        explained = [r for r in records if r.get("kind") == "explained"]
        chosen = listed or first[:1]
        complete = bool(explained) and explained[0].get("complete") is True
        if not listed:
            complete = not result.get("timed_out")
        failures = tuple(_failure(r, tests_lines) for r in chosen)
        details = "left processes" if result.get("leftover") else ""
        return _Reading(TestOutcome.FAILED, failures, complete, details)
    if verdicts == {"EMPTY"} and not result.get("timed_out"):
        details = "no assert ran (checks defined but never called, or asserts never reached)"
        return _Reading(TestOutcome.NO_ASSERTIONS, (), True, details)
    if verdicts == {"PASS"} and not result.get("timed_out"):
        if result.get("leftover"):
            return _Reading(TestOutcome.LEFTOVER_PROCESSES, (), True, "")
        return _Reading(TestOutcome.PASSED, (), True, "")
    if result.get("timed_out"):
        return _Reading(TestOutcome.TIMEOUT, (), True, "")
    harness = [r for r in records if r.get("kind") == "harness"]
    if harness:  # the harness could not start the run (no verdict was possible)
        return _Reading(TestOutcome.SANDBOX_ERROR, (), True, str(harness[0].get("message"))[:300])
    if isinstance(status, int) and status < 0:
        return _Reading(TestOutcome.CRASHED, (), True, _signal_name(-status))
    return _Reading(TestOutcome.EXITED, (), True, str(status))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def read_report(
    result: Mapping[str, Any],
    *,
    secret: str,
    tests: str,
    isolation: Isolation,
    render: Callable[[TestReport], str],
    tests_process: TestsProcess = TestsProcess.SAME,
) -> TestReport:
    """Turn the launcher's answer for one run into a `TestReport`.

    Args:
        result: The launcher's result frame (status, flags, output, records).
        secret: The run's secret (hex) that a genuine verdict line carries.
        tests: The tests source, to quote failing lines.
        isolation: The isolation the run had.
        render: ``render(report) -> str``, the feedback writer
            (`toolthink.tool.feedback.FeedbackWriter`).
        tests_process: Where the tests ran (`toolthink.tool.boundary`).

    Returns:
        The report, with its feedback text filled in.
    """
    if "tests_error" in result:
        reading = _Reading(TestOutcome.BAD_TESTS, (), True, str(result["tests_error"]))
    elif "no_assertions" in result:
        reading = _Reading(TestOutcome.NO_ASSERTIONS, (), True, str(result["no_assertions"]))
    elif "sandbox_error" in result:
        reading = _Reading(TestOutcome.SANDBOX_ERROR, (), True, str(result["sandbox_error"]))
    else:
        reading = _read(result, secret, tests)
    status = result.get("status")
    records_text = str(result.get("records", ""))
    report = TestReport(
        passed=reading.outcome is TestOutcome.PASSED,
        outcome=reading.outcome,
        feedback="",
        failures=reading.failures,
        isolation=isolation,
        output=str(result.get("output", "")),
        duration=float(result.get("wall", 0.0)),
        exit_status=status if isinstance(status, int) else None,
        location=_location(records_text),
        failures_complete=reading.complete,
        details=reading.details,
        tests_process=tests_process,
    )
    return attrs.evolve(report, feedback=render(report))
