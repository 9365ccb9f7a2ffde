"""The shared command-line checks and the dispatcher's Ctrl-C handling."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from toolthink import cli
from toolthink.commands import (
    EXIT_INTERRUPTED,
    config_file_problem,
    non_negative_float,
    output_file_problem,
    output_folder_problem,
    positive_int,
)
from toolthink.training import cli as train_cli


def _interrupt(argv: list[str]) -> int:
    raise KeyboardInterrupt


SCRIPTS = {"toolthink": cli.main, "toolthink-train": train_cli.main}


@pytest.mark.parametrize(("command", "module", "line"), [
    (["toolthink", "data", "demos", "--out", "x"], "toolthink.data.cli",
     "toolthink data: interrupted; nothing partial was written"),
    (["toolthink", "eval"], "toolthink.evaluation.cli",
     "toolthink eval: interrupted; nothing partial was written"),
    (["toolthink", "repair", "f.py"], "toolthink.evaluation.repair",
     "toolthink repair: interrupted; nothing written"),
    (["toolthink-train", "rl"], "toolthink.training.rl_cli",
     "toolthink-train rl: interrupted; checkpoints already saved in output_dir remain"),
])
def test_ctrl_c_is_one_line_and_exit_130(
    command: list[str], module: str, line: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(importlib.import_module(module), "main", _interrupt)
    assert SCRIPTS[command[0]](command[1:]) == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert line in err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "/nonexistent.yaml"], r"--config '/nonexistent.yaml' does not exist"),
    (["--config=/nonexistent.yaml"], r"--config '/nonexistent.yaml' does not exist"),
    (["--lr", "1", "--config", "{folder}"], r"is a folder: name a YAML file in it \(it holds "
     r".*a.yaml\), e.g. --config configs/x.yaml"),
])
def test_config_file_problems_name_the_value(args: list[str], message: str,
                                             tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("lr: 1\n")
    args = [a.replace("{folder}", str(tmp_path)) for a in args]
    problem = config_file_problem(args, "configs/x.yaml")
    assert problem is not None
    assert re.search(message, problem)


def test_a_readable_or_absent_config_is_no_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("lr: 1\n")
    assert config_file_problem(["--config", str(tmp_path / "a.yaml")], "x") is None
    assert config_file_problem([f"--config={tmp_path / 'a.yaml'}"], "x") is None
    assert config_file_problem(["--lr", "1"], "x") is None
    assert config_file_problem(["--config"], "x") is None  # the parser reports the missing value


def test_output_folder_problems(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert output_folder_problem("--out", str(tmp_path)) is None
    assert output_folder_problem("--out", str(tmp_path / "new" / "deeper")) is None
    assert "is a file, not a folder" in str(output_folder_problem("--out", str(afile)))
    under = output_folder_problem("--out", str(afile / "sub" / "more"))
    assert f"lies under {str(afile)!r}, which is a file" in str(under)


def test_output_file_problems(tmp_path: Path) -> None:
    assert output_file_problem("--html", str(tmp_path / "x.html")) is None
    assert "is a folder: name a file" in str(output_file_problem("--html", str(tmp_path)))
    missing = output_file_problem("--html", str(tmp_path / "nowhere" / "x.html"))
    assert "does not exist: create it" in str(missing)


@pytest.mark.parametrize(("convert", "text"), [
    (positive_int, "0"), (positive_int, "-3"), (positive_int, "x"),
    (non_negative_float, "-1"), (non_negative_float, "nan"), (non_negative_float, "hot"),
])
def test_number_types_name_the_value(convert: object, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        convert(text)  # type: ignore[operator]
