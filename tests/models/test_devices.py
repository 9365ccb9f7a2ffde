"""Device and dtype specs: resolved against the machine, errors name the value and the fix.

No GPU is needed: ``torch.cuda`` is monkeypatched to describe one.
"""

from __future__ import annotations

import pytest
import torch

from toolthink.models import devices
from toolthink.models.devices import (
    DeviceError,
    check_device_spec,
    resolve_device,
    resolve_dtype,
    training_dtype,
)


def fake_cuda(monkeypatch: pytest.MonkeyPatch, *, gpus: int, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


@pytest.mark.parametrize(("spec", "gpus", "want"), [
    ("auto", 0, "cpu"),
    ("auto", 1, "cuda"),
    ("cpu", 2, "cpu"),
    ("cuda", 1, "cuda"),
    ("cuda:1", 2, "cuda:1"),
])
def test_device_specs(spec: str, gpus: int, want: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=gpus)
    assert resolve_device(spec) == torch.device(want)


@pytest.mark.parametrize(("spec", "gpus", "message"), [
    ("gpu", 1, r"--device 'gpu' is not a device: pass auto, cpu, cuda or cuda:N"),
    ("cuda:x", 1, "is not a device"),
    ("cuda", 0, "asked for a GPU but torch .* sees none .* or pass --device cpu"),
    ("cuda:0", 0, "asked for a GPU"),
    ("cuda:2", 2, r"torch sees 2 GPU\(s\), numbered 0 to 1"),
])
def test_device_errors(spec: str, gpus: int, message: str,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=gpus)
    with pytest.raises(DeviceError, match=message):
        resolve_device(spec)


def test_device_spelling_is_checked_without_the_machine() -> None:
    assert check_device_spec("cuda:3") == "cuda:3"
    with pytest.raises(DeviceError, match="'mps'"):
        check_device_spec("mps")


@pytest.mark.parametrize(("spec", "device", "bf16", "want"), [
    ("auto", "cpu", True, torch.float32),
    ("auto", "cuda", True, torch.bfloat16),
    ("auto", "cuda", False, torch.float32),
    ("float16", "cuda", False, torch.float16),
    ("bfloat16", "cpu", False, torch.bfloat16),
    ("float32", "cuda", True, torch.float32),
])
def test_dtype_specs(spec: str, device: str, bf16: bool, want: torch.dtype,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=1, bf16=bf16)
    assert resolve_dtype(spec, torch.device(device)) == want


def test_dtype_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=1, bf16=False)
    with pytest.raises(DeviceError, match="does not support bfloat16: pass --dtype float16"):
        resolve_dtype("bfloat16", torch.device("cuda"))
    with pytest.raises(DeviceError, match="'half' is not a dtype"):
        resolve_dtype("half", torch.device("cpu"))


@pytest.mark.parametrize(("flags", "want"), [
    ({"bf16": False, "fp16": False, "use_cpu": False, "lora": True}, torch.float32),
    ({"bf16": True, "fp16": False, "use_cpu": False, "lora": True}, torch.bfloat16),
    ({"bf16": True, "fp16": False, "use_cpu": False, "lora": False}, torch.bfloat16),
    ({"bf16": False, "fp16": True, "use_cpu": False, "lora": True}, torch.float16),
    ({"bf16": False, "fp16": True, "use_cpu": False, "lora": False}, torch.float32),
    ({"bf16": True, "fp16": False, "use_cpu": True, "lora": True}, torch.float32),
])
def test_training_dtype_follows_trl_flags(flags: dict[str, bool], want: torch.dtype) -> None:
    assert training_dtype(**flags) == want


def test_dtype_names_cover_the_choices() -> None:
    assert set(devices.DTYPES) == {"float32", "bfloat16", "float16"}
