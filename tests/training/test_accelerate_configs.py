"""The accelerate configs' DeepSpeed and FSDP blocks, read as ``accelerate launch`` reads them.

``accelerate launch`` copies each key of ``deepspeed_config`` (and of
``fsdp_config``, as ``fsdp_<key>``) onto its arguments without checking the name:
a misspelt key is silently ignored. These tests parse each config with
accelerate's own launcher, require every key to be one of its arguments, then
build accelerate's plugin from the environment the launcher hands the training
processes and compare its settings with the YAML's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
from torch.distributed.fsdp import CPUOffloadPolicy

CONFIGS = Path(__file__).parents[2] / "configs" / "accelerate"


def _launch_args(path: Path) -> tuple[Any, dict[str, str]]:
    """The launcher's arguments for ``path`` and the environment of its processes."""
    args = launch_command_parser().parse_args(["--config_file", str(path), "train.py"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = list(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return args, env


@pytest.mark.parametrize("name", ["deepspeed_zero2", "deepspeed_zero3", "fsdp"])
def test_every_key_is_an_accelerate_launch_argument(name: str) -> None:
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text(encoding="utf-8"))
    arguments = {a.dest: a for a in launch_command_parser()._actions}
    block = raw.get("deepspeed_config") or {}
    fsdp = {(k if k.startswith("fsdp_") else f"fsdp_{k}"): v
            for k, v in (raw.get("fsdp_config") or {}).items()}
    keys = {**block, **fsdp}
    assert keys, f"{name}.yaml has no deepspeed_config or fsdp_config block"
    for key, value in keys.items():
        assert key in arguments, f"{name}.yaml: {key} is no `accelerate launch` argument"
        choices = arguments[key].choices
        assert choices is None or str(value) in choices, f"{name}.yaml: {key}={value!r}"


@pytest.mark.parametrize(("name", "stage", "zero3_init", "save_16bit"), [
    ("deepspeed_zero2", 2, False, False), ("deepspeed_zero3", 3, True, True),
])
def test_deepspeed_configs_build_accelerates_plugin(
        name: str, stage: int, zero3_init: bool, save_16bit: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, env = _launch_args(CONFIGS / f"{name}.yaml")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == stage
    zero = plugin.deepspeed_config["zero_optimization"]
    assert zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "none"
    assert plugin.zero3_init_flag is zero3_init
    assert zero["stage3_gather_16bit_weights_on_model_save"] is save_16bit


def test_the_fsdp_config_builds_accelerates_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    args, env = _launch_args(CONFIGS / "fsdp.yaml")
    assert args.use_fsdp
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.state_dict_type.name == "SHARDED_STATE_DICT"
    assert plugin.reshard_after_forward is True
    assert plugin.cpu_ram_efficient_loading is True
    assert plugin.activation_checkpointing is False
    assert not isinstance(plugin.cpu_offload, CPUOffloadPolicy)  # fsdp_offload_params: false
    assert getattr(plugin.auto_wrap_policy, "__name__", None) == "transformer_auto_wrap_policy"
