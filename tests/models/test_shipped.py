"""``--adapter auto | none | FOLDER``: the shipped adapter is the embedded model's default."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from toolthink.evaluation import cli
from toolthink.evaluation.repair import make_parser as repair_parser
from toolthink.models import shipped
from toolthink.models.shipped import AUTO, NONE, resolve_adapter, shipped_adapter


@pytest.fixture
def fake_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package folder holding a shipped adapter, as an installation of toolthink would."""
    folder = tmp_path / "adapters" / shipped.SHIPPED["embedded"]
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    monkeypatch.setattr(shipped.resources, "files", lambda package: tmp_path)
    return folder


@pytest.mark.parametrize(("model", "value", "expected"), [
    ("embedded", AUTO, "shipped"),
    ("embedded", None, "shipped"),
    ("embedded", NONE, None),
    ("embedded", "runs/sft", "runs/sft"),
    ("HuggingFaceTB/SmolLM2-360M-Instruct", AUTO, None),  # an adapter fits one base only
    ("/models/other", NONE, None),
])
def test_the_flag_resolves_to_the_shipped_adapter_only_for_its_model(
    fake_shipped: Path, model: str, value: str | None, expected: str | None
) -> None:
    want = str(fake_shipped) if expected == "shipped" else expected
    assert resolve_adapter(model, value) == want


def test_without_the_adapters_files_auto_means_the_model_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipped.resources, "files", lambda package: tmp_path)
    assert shipped_adapter("embedded") is None
    assert resolve_adapter("embedded", AUTO) is None


@pytest.mark.parametrize("parser", [cli.make_parser, repair_parser])
def test_both_commands_default_to_auto_and_say_what_it_means(
    parser: Callable[[], argparse.ArgumentParser],
) -> None:
    action = next(a for a in parser()._actions if a.dest == "adapter")
    assert action.default == AUTO
    assert "'none': the model alone" in (action.help or "")
