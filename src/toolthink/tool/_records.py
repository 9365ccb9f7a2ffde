"""The run's record channel, fd 3: where the verdict line and the ``R {json}`` records go.

The first part of the harness's program and of the separate mode's
(`toolthink.tool.programs`): the harness (`toolthink.tool._harness`) and the
tests' process (`toolthink.tool._tests_process`) write their records here the
same way, without importing ``json`` (an import in every run). The host reads
them (`toolthink.tool.report`). Standard library only.
"""

from __future__ import annotations

import os
from _json import encode_basestring_ascii as _quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_VERDICT_FD = 3


def _value(value: object) -> str:
    """JSON text of None, a bool, an int or a str (all a record holds)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return str(_quote(str(value)))


def _record(**fields: object) -> None:
    """Write one ``R {json}`` line on fd 3 (nothing if the channel is closed)."""
    body = ",".join(_quote(key) + ":" + _value(value) for key, value in fields.items())
    try:  # noqa: SIM105 (contextlib would cost an import in every run)
        os.write(_VERDICT_FD, ("\nR {" + body + "}\n").encode("utf-8", "replace"))
    except OSError:
        pass


class _Enough(BaseException):
    """Raised by the failure recorder once ``max_failures`` are listed."""


def _mute_output() -> None:
    """Send fds 1 and 2 to /dev/null: what the tests print while they are explained is not read."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _failure_recorder(
    limit: int, describe: Callable[[BaseException], dict[str, object]]
) -> tuple[Callable[[BaseException], None], list[int]]:
    """The explanation's recorder of failing tests, and its count (a one-item list).

    The recorder writes a phase-2 ``failure`` record per failing test, with the
    fields ``describe`` gives, and raises `_Enough` at the ``limit``-th.
    """
    count = [0]

    def record(exc: BaseException) -> None:
        count[0] += 1
        _record(kind="failure", phase=2, **describe(exc))
        if count[0] >= limit:
            raise _Enough

    return record, count
