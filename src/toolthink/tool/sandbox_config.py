"""How test runs are isolated, limited and reported: `SandboxConfig`.

Read by `toolthink.tool.sandbox.SandboxPool`, which starts one sandbox per
worker (`toolthink.tool.worker`) with the plan this configuration checks
(`toolthink.tool.isolation`).
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from toolthink.tool.boundary import TestsProcess
from toolthink.tool.isolation import IsolationPlan, plan_isolation
from toolthink.tool.limits import Limits
from toolthink.tool.uids import FALLBACK_UIDS

__all__ = ["SANDBOX_PYTHON_ENV", "SandboxConfig"]

SANDBOX_PYTHON_ENV = "TOOLTHINK_SANDBOX_PYTHON"
"""Environment variable naming the interpreter inside the sandbox (3.10 or 3.11)."""


def _isolation_choice(_instance: object, _attribute: object, value: str) -> None:
    if value not in ("auto", "bwrap", "process"):
        msg = f"isolation must be 'auto', 'bwrap' or 'process', got {value!r}"
        raise ValueError(msg)


def _workers(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        msg = f"workers must be a positive int or None (one per CPU), got {value!r}"
        raise ValueError(msg)


def _tests_process(value: object) -> TestsProcess:
    try:
        return TestsProcess(value)
    except ValueError:
        msg = f"tests_process must be 'separate' or 'same', got {value!r}"
        raise ValueError(msg) from None


def _at_least(low: float) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
            msg = f"SandboxConfig.{attribute.name} must be a number >= {low:g}, got {value!r}"
            raise ValueError(msg)

    return check


@attrs.frozen
class SandboxConfig:
    """How test runs are isolated, limited and reported.

    Attributes:
        workers: Sandboxes run in parallel; None means one per CPU.
        isolation: ``"auto"`` (bubblewrap, else a plain subprocess with one
            warning), ``"bwrap"`` (bubblewrap or `SandboxUnavailableError`) or
            ``"process"`` (no bubblewrap).
        limits: Resource limits of each run.
        python: Interpreter inside the sandbox (Python 3.10 or 3.11); default
            ``$TOOLTHINK_SANDBOX_PYTHON``, else None, which picks a usable one
            (see `toolthink.tool.isolation.plan_isolation`).
        bwrap: The bubblewrap executable, a name on PATH or a path.
        uid: Unprivileged uid (and gid) a bubblewrap sandbox runs as when
            toolthink runs as root (65534 is ``nobody``); each sandbox has its
            own user namespace, so its process limit is its own. The fallback
            probes its interpreter as this uid.
        fallback_uids: First uid the fallback leases when toolthink runs as
            root: each fallback sandbox runs as a pair of uids no other
            process uses (`toolthink.tool.uids`), so its process limit is its
            own and its processes are non-dumpable.
        max_failures: Most failing tests listed per report.
        explain_seconds: Wall-clock seconds a failed run may spend, after its
            first failure, running the rest of the tests to list each failing
            one (within the run's timeout); 0 lists the first failure only.
        max_feedback_chars: Cap on the feedback text, characters.
        tests_process: ``"separate"`` (the default: the tests run in a process
            of their own and call the candidate's functions through a plain-data
            boundary; tests that need objects to cross fall back to ``"same"``,
            see `toolthink.tool.boundary`) or ``"same"`` (code and tests in one
            module and process). The default follows issue 14's rule: its
            calibration holds and a run costs 1.08-1.19x one in ``"same"``
            (benchmarks/README.md), under the 1.5x allowed.
    """

    workers: int | None = attrs.field(default=None, validator=_workers)
    isolation: str = attrs.field(default="auto", validator=_isolation_choice)
    limits: Limits = attrs.field(factory=Limits)
    python: str | None = attrs.field(factory=lambda: os.environ.get(SANDBOX_PYTHON_ENV) or None)
    bwrap: str = "bwrap"
    uid: int = 65534
    fallback_uids: int = attrs.field(default=FALLBACK_UIDS, validator=_at_least(1))
    max_failures: int = attrs.field(default=5, validator=_at_least(1))
    explain_seconds: float = attrs.field(default=1.0, validator=_at_least(0))
    max_feedback_chars: int = attrs.field(default=2000, validator=_at_least(1))
    tests_process: TestsProcess = attrs.field(
        default=TestsProcess.SEPARATE, converter=_tests_process
    )

    def plan(self) -> IsolationPlan:
        """Check (once per process) how sandboxes start with this configuration."""
        return plan_isolation(
            self.isolation,
            python=self.python,
            bwrap=self.bwrap,
            uid=self.uid,
            tmp_bytes=self.limits.tmp_bytes,
        )
