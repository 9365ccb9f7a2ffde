"""How sandboxes start: the plan, the seccomp program, and what a run sees inside."""

from __future__ import annotations

import os
import struct
import textwrap
from pathlib import Path

import pytest

from toolthink.tool import Isolation, SandboxConfig, SandboxPool, SandboxUnavailableError
from toolthink.tool.isolation import (
    IsolationPlan,
    _probe,
    _world_runnable,
    plan_isolation,
    seccomp_filter,
)
from toolthink.tool.seccomp import _DENIED, _SYSCALLS


@pytest.mark.parametrize("machine", sorted(_SYSCALLS))
def test_seccomp_program_denies_each_listed_call(machine: str) -> None:
    program = seccomp_filter(machine)
    assert program is not None
    instructions = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    arch, numbers = _SYSCALLS[machine]
    assert len(numbers) == len(_DENIED)
    assert instructions[1][3] == arch
    compared = [k for code, _jt, _jf, k in instructions if code == 0x15][1:]  # after the arch
    assert compared == list(numbers)
    assert instructions[-2] == (0x06, 0, 0, 0x7FFF0000)  # allow
    assert instructions[-1] == (0x06, 0, 0, 0x00050001)  # errno EPERM
    for index, (code, jt, _jf, _k) in enumerate(instructions):
        if code == 0x15 and index > 1:
            assert index + 1 + jt == len(instructions) - 1  # a match jumps to deny


def test_no_seccomp_program_for_an_unknown_machine() -> None:
    assert seccomp_filter("vax") is None


def test_root_only_folders_are_not_world_runnable() -> None:
    assert not _world_runnable("/root/.pyenv/versions/x/bin/python")
    assert _world_runnable("/usr/bin/env")


def test_a_bad_choice_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'auto', 'bwrap' or 'process'"):
        plan_isolation("docker", python=None, bwrap="bwrap", uid=65534, tmp_bytes=1 << 20)


def test_required_bwrap_that_cannot_start_is_an_error() -> None:
    with pytest.raises(SandboxUnavailableError, match="no-such-bwrap-for-this-test"):
        plan_isolation(
            "bwrap", python=None, bwrap="no-such-bwrap-for-this-test", uid=65534,
            tmp_bytes=1 << 20,
        )  # fmt: skip


def test_an_unusable_interpreter_is_an_error() -> None:
    with pytest.raises(SandboxUnavailableError, match="SandboxConfig"):
        plan_isolation("auto", python="/nonexistent/python3", bwrap="bwrap", uid=65534,
                       tmp_bytes=1 << 20)  # fmt: skip


@pytest.mark.parametrize(("version", "refused"), [("3 11", False), ("3 12", True), ("3 13", True)])
def test_interpreters_that_let_code_rewrite_frames_are_refused(
    tmp_path: Path, version: str, refused: bool
) -> None:
    # From 3.12, sys.monitoring (3.13: f_locals writes, PEP 667) let the tested
    # code rewrite the harness's frame and forge a pass; the probe refuses them.
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\necho toolthink-probe {version}\n")
    fake.chmod(0o755)
    plan = IsolationPlan(isolation=Isolation.PROCESS, python=str(fake), prefix=(), seccomp=None,
                         kill_scope="session", reason="test")  # fmt: skip
    error = _probe(plan)
    assert (error is not None) is refused
    if refused:
        assert "needs 3.10 or 3.11" in str(error)


INSIDE = textwrap.dedent("""
    import os, resource, socket
    facts = {
        "uid": os.getuid(),
        "proc": os.path.exists("/proc/self"),
        "root_writable": os.access("/", os.W_OK),
        "usr_writable": os.access("/usr", os.W_OK),
        "cwd": os.getcwd(),
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
        "as": resource.getrlimit(resource.RLIMIT_AS),
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "hostname": socket.gethostname(),
        "env": sorted(os.environ),
        "listing": sorted(os.listdir("/")),
    }
    print(repr(facts))
""")


def test_what_a_run_sees_inside_bubblewrap(fresh_pool: SandboxPool) -> None:
    report = fresh_pool.run(INSIDE, "assert True\n", timeout=10)
    assert report.passed, report.feedback
    facts = eval(report.output)
    limits = fresh_pool.config.limits
    assert facts["proc"] is False
    assert facts["root_writable"] is False
    assert facts["usr_writable"] is False
    assert facts["cwd"] == "/tmp"
    assert facts["hostname"] == "sandbox"
    assert facts["nproc"] == (limits.processes, limits.processes)
    assert facts["as"] == (limits.memory_bytes, limits.memory_bytes)
    assert facts["fsize"] == (limits.file_size_bytes, limits.file_size_bytes)
    assert facts["nofile"] == (limits.open_files, limits.open_files)
    assert set(facts["env"]) <= {"PATH", "LANG", "HOME", "LC_CTYPE"}
    assert "work" not in facts["listing"]
    assert "root" not in facts["listing"]
    if os.geteuid() == 0:
        assert facts["uid"] == fresh_pool.config.uid
    assert fresh_pool.isolation is Isolation.BWRAP


def test_tmp_is_private_and_capped(bwrap_config: SandboxConfig) -> None:
    import attrs  # noqa: PLC0415

    from toolthink.tool import Limits  # noqa: PLC0415

    limits = Limits(tmp_bytes=4 << 20, file_size_bytes=64 << 20)
    config = attrs.evolve(bwrap_config, limits=limits)
    code = "with open('/tmp/fill', 'wb') as f:\n    f.write(b'x' * (8 << 20))\n"
    with SandboxPool(config) as pool:
        report = pool.run(code, "assert True\n", timeout=10)
    assert not report.passed
    assert "No space left on device" in report.feedback


def test_the_sandbox_interpreter_can_be_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolthink.tool.sandbox import SANDBOX_PYTHON_ENV, SandboxConfig  # noqa: PLC0415

    monkeypatch.setenv(SANDBOX_PYTHON_ENV, "/opt/python3.11/bin/python3.11")
    assert SandboxConfig().python == "/opt/python3.11/bin/python3.11"
    monkeypatch.setenv(SANDBOX_PYTHON_ENV, "")
    assert SandboxConfig().python is None
    assert SandboxConfig(python="/usr/bin/python3").python == "/usr/bin/python3"
