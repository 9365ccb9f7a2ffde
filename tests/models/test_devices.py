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


@pytest.mark.parametrize(("spec", "device", "bf16", "native", "want"), [
    ("auto", "cpu", True, "0", torch.float32),
    ("auto", "cpu", False, "1", torch.bfloat16),  # native bf16 on the CPU
    ("auto", "cuda", True, "0", torch.bfloat16),
    ("auto", "cuda", False, "1", torch.float32),  # the GPU decides, not the CPU
    ("float16", "cuda", False, "0", torch.float16),
    ("bfloat16", "cpu", False, "0", torch.bfloat16),  # forced: works (slowly, a warning)
    ("float32", "cuda", True, "1", torch.float32),
    ("float32", "cpu", True, "1", torch.float32),  # a user can still force float32
])
def test_dtype_specs(spec: str, device: str, bf16: bool, native: str, want: torch.dtype,
                     *, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=1, bf16=bf16)
    monkeypatch.setenv(devices.CPU_BF16_ENV, native)
    assert resolve_dtype(spec, torch.device(device)) == want


AMD_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_bf16 avx512_vnni
bogomips\t: 5200.00
"""
SAPPHIRE_RAPIDS = "flags\t\t: fpu sse avx512f amx_bf16 amx_tile amx_int8\n"
OLD_XEON = "flags\t\t: fpu sse sse2 avx2 avx512f avx512bw\nbugs\t\t: avx512_bf16\n"


@pytest.mark.parametrize(("cpuinfo", "want"), [
    (AMD_EPYC, True),
    (SAPPHIRE_RAPIDS, True),
    (OLD_XEON, False),  # the name in another field is not a flag
    ("", False),
    ("flags\t\t: avx512_bf16x\n", False),  # whole words only
])
def test_the_cpu_probe_reads_flags(cpuinfo: str, want: bool,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    assert devices.cpu_has_native_bf16(cpuinfo) is want


@pytest.mark.parametrize(("value", "want"), [("1", True), ("true", True), ("0", False),
                                             ("FALSE", False)])
def test_the_probe_is_overridable(value: str, want: bool,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(devices.CPU_BF16_ENV, value)
    assert devices.cpu_has_native_bf16(AMD_EPYC if not want else OLD_XEON) is want


def test_a_bad_override_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(devices.CPU_BF16_ENV, "maybe")
    with pytest.raises(DeviceError, match=r"TOOLTHINK_CPU_BF16='maybe' is not a switch: set it "
                                          "to 1"):
        devices.cpu_has_native_bf16(AMD_EPYC)


def test_a_missing_cpuinfo_means_no_native_bf16(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path) -> None:
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(devices, "CPUINFO", tmp_path / "absent")
    assert devices.cpu_has_native_bf16() is False


def test_forced_bf16_without_native_support_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    with caplog.at_level("WARNING"):
        assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    (record,) = caplog.records
    assert "bfloat16 will be slower than float32 here; pass --dtype float32" in record.message
    assert "\n" not in record.message
    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    caplog.clear()
    resolve_dtype("bfloat16", torch.device("cpu"))
    assert not caplog.records


@pytest.mark.parametrize(("bf16", "fp16", "use_cpu", "native", "want"), [
    (None, False, True, "1", True),  # unset on a CPU run: the probe
    (None, False, True, "0", False),
    (None, True, True, "1", False),  # fp16 asked for: not both
    (False, False, True, "1", False),  # forced off
    (True, False, True, "0", True),  # forced on: slow, warned
    (None, False, False, "0", None),  # not a CPU run: TRL's default
])
def test_trainer_bf16(bf16: bool | None, fp16: bool, use_cpu: bool, native: str,
                      want: bool | None, *, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(devices.CPU_BF16_ENV, native)
    assert devices.resolve_trainer_bf16(bf16, fp16=fp16, use_cpu=use_cpu) is want


def test_dtype_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, gpus=1, bf16=False)
    with pytest.raises(DeviceError, match="does not support bfloat16: pass --dtype float16"):
        resolve_dtype("bfloat16", torch.device("cuda"))
    with pytest.raises(DeviceError, match="--dtype 'half' is not a dtype: pass auto, float32"):
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
