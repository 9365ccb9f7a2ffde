"""Every command module runs under ``python -m``: ``--help`` prints its usage and exits 0.

A module without a ``__main__`` block imports, does nothing and exits 0, so
``accelerate launch -m toolthink.training.rl_cli ...`` would end without
training; the usage text is what tells the two apart.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

MODULES = [
    ("toolthink.cli", "usage: toolthink"),
    ("toolthink.training.cli", "usage: toolthink-train"),
    ("toolthink.training.rl_cli", "usage: toolthink-train rl"),
    ("toolthink.training.sft_cli", "usage: toolthink-train sft"),
    ("toolthink.evaluation.cli", "usage: toolthink eval"),
    ("toolthink.evaluation.repair", "usage: toolthink repair"),
    ("toolthink.study", "usage: toolthink study"),
    ("toolthink.data.cli", "usage: toolthink data"),
]


@pytest.mark.parametrize(("module", "usage"), MODULES)
def test_python_m_help_prints_usage(module: str, usage: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert usage in done.stdout


@pytest.mark.parametrize(("module", "prog"), [("toolthink.cli", "toolthink"),
                                              ("toolthink.training.cli", "toolthink-train")])
def test_version(module: str, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib  # noqa: PLC0415

    from toolthink import __version__  # noqa: PLC0415

    assert importlib.import_module(module).main(["--version"]) == 0
    assert capsys.readouterr().out == f"{prog} {__version__}\n"
