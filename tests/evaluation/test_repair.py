"""toolthink repair: writes FILE.repaired.py only when the tests pass; never touches FILE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolthink.env import RepairEnv
from toolthink.evaluation import repair
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    code, tests = tmp_path / "add.py", tmp_path / "test_add.py"
    code.write_text(BUGGY)
    tests.write_text(TESTS)
    return code, tests


def oracle_commands(task: RepairTask, samples: int, sandbox: SandboxPool) -> list[str]:
    """ORACLE, not a model: plays the known fix as commands in the real environment."""
    env = RepairEnv(sandbox=sandbox)
    env.reset(task)
    env.step("REPW 2 >>>- >>>+")
    env.step("EXIT")
    assert env.editor is not None
    return [env.editor.source] * samples


def wrong_answers(task: RepairTask, samples: int, sandbox: SandboxPool) -> list[str]:
    """A policy whose every candidate still fails."""
    return ["def add(a, b):\n    return a * b\n"] * samples


def test_success_writes_beside_and_keeps_the_original(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    status = repair.main([str(code), "--tests", str(tests), "--samples", "2"],
                         attempt=oracle_commands)
    assert status == repair.EXIT_REPAIRED
    assert code.read_text() == BUGGY
    assert (code.parent / "add.repaired.py").read_text() == FIXED
    assert "repaired" in capsys.readouterr().out


def test_failure_writes_nothing(files: tuple[Path, Path]) -> None:
    code, tests = files
    status = repair.main([str(code), "--tests", str(tests)], attempt=wrong_answers)
    assert status == repair.EXIT_NOT_REPAIRED
    assert code.read_text() == BUGGY
    assert sorted(p.name for p in code.parent.iterdir()) == ["add.py", "test_add.py"]


def test_already_passing_writes_nothing(files: tuple[Path, Path]) -> None:
    code, tests = files
    code.write_text(FIXED)
    status = repair.main([str(code), "--tests", str(tests)], attempt=oracle_commands)
    assert status == repair.EXIT_ALREADY_PASSES
    assert not (code.parent / "add.repaired.py").exists()


def no_attempt(task: RepairTask, samples: int, sandbox: SandboxPool) -> list[str]:
    raise AssertionError("no attempt (and no model) for tests that hold no test")


@pytest.mark.parametrize(
    ("tests", "said"),
    [
        ("", "holds no tests (they hold no assert statement)"),
        ("# assert add(1, 2) == 3\n", "holds no tests (they hold no assert statement)"),
        ("def check(f):\n    assert f(1, 2) == 3\n", "holds no tests (no assert ran"),
        ("assert add(1, 2) ==\n", "does not compile (SyntaxError"),
    ],
)
def test_tests_that_hold_no_test_are_a_usage_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tests: str, said: str
) -> None:
    code, tests_path = files
    tests_path.write_text(tests)
    status = repair.main([str(code), "--tests", str(tests_path)], attempt=no_attempt)
    assert status == repair.EXIT_USAGE
    error = capsys.readouterr().err
    assert error.startswith(f"toolthink repair: --tests {tests_path} {said}"), error
    assert sorted(p.name for p in code.parent.iterdir()) == ["add.py", "test_add.py"]


def test_missing_files_are_usage_errors(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    assert repair.main([str(code.parent / "nope.py"), "--tests", str(tests)]) == repair.EXIT_USAGE
    assert repair.main([str(code), "--tests", str(code.parent / "x.py")]) == repair.EXIT_USAGE
    assert "--tests" in capsys.readouterr().err


def test_tiny_random_model_fails_and_writes_nothing(
    files: tuple[Path, Path], tiny_model_dir: Path
) -> None:
    code, tests = files
    before = code.stat().st_mtime_ns
    status = repair.main([str(code), "--tests", str(tests), "--model", str(tiny_model_dir),
                          "--samples", "2", "--max-turns", "2"])
    assert status == repair.EXIT_NOT_REPAIRED
    assert code.read_text() == BUGGY
    assert code.stat().st_mtime_ns == before
    assert not (code.parent / "add.repaired.py").exists()


def test_a_missing_gpu_is_a_usage_error(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, tests = files
    assert repair.main([str(code), "--tests", str(tests), "--device", "cuda"]) == repair.EXIT_USAGE
    assert "pass --device cpu" in capsys.readouterr().err
    assert not (code.parent / "add.repaired.py").exists()


def test_a_negative_temperature_is_a_usage_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    with pytest.raises(SystemExit) as info:
        repair.main([str(code), "--tests", str(tests), "--temperature", "-1"],
                    attempt=oracle_commands)
    assert info.value.code == repair.EXIT_USAGE
    assert "--temperature: '-1' must be a number >= 0" in capsys.readouterr().err
    assert not repair.repaired_path(code).exists()


def test_an_existing_repaired_file_is_refused_before_any_attempt(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    earlier = code.parent / "add.repaired.py"
    earlier.write_text("# kept\n")

    def no_attempt(task: RepairTask, samples: int, sandbox: SandboxPool) -> list[str]:
        pytest.fail("an attempt ran although the output file would be refused")

    status = repair.main([str(code), "--tests", str(tests)], attempt=no_attempt)
    assert status == repair.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{earlier} exists" in err
    assert "--overwrite" in err
    assert earlier.read_text() == "# kept\n"


def test_a_dangling_link_in_the_output_place_is_refused_too(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, tests = files
    link = code.parent / "add.repaired.py"
    link.symlink_to(code.parent / "gone.py")  # exists() is False for it
    status = repair.main([str(code), "--tests", str(tests)], attempt=oracle_commands)
    assert status == repair.EXIT_USAGE
    assert f"{link} exists" in capsys.readouterr().err
    assert link.is_symlink()


def test_overwrite_replaces_an_existing_repaired_file(files: tuple[Path, Path]) -> None:
    code, tests = files
    earlier = code.parent / "add.repaired.py"
    earlier.write_text("# old\n")
    status = repair.main([str(code), "--tests", str(tests), "--overwrite"],
                         attempt=oracle_commands)
    assert status == repair.EXIT_REPAIRED
    assert earlier.read_text() == FIXED


def test_help_says_an_existing_output_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        repair.main(["--help"])
    assert "--overwrite" in capsys.readouterr().out
