"""Data-parallel SFT: two CPU processes (gloo) train a tiny model for a few steps."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig
from transformers import PreTrainedTokenizerBase

import toolthink
from toolthink.tool import SandboxPool

from .sft_support import build_demo_folder, save_tiny_model, tiny_run_flags

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_two_process_gloo_run(
    tmp_path: Path, tokenizer: PreTrainedTokenizerBase, sandbox_pool: SandboxPool
) -> None:
    demos, _ = build_demo_folder(tmp_path / "demos", sandbox_pool)
    model = save_tiny_model(tmp_path / "tiny", tokenizer)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "configs" / "accelerate" / "cpu_ddp.yaml"),
        "--main_process_port", str(_free_port()),
        "-m", "toolthink.training.sft_cli",
        *tiny_run_flags(model, demos, out), "--max_steps", "2", "--save_steps", "100",
        # the episode hook runs on the main process while the other waits at its next step
        "--eval_episodes", "1", "--eval_max_turns", "1", "--eval_max_new_tokens", "4",
    ]
    src = str(Path(toolthink.__file__).parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([src, str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["global_step"] == 2
    assert (out / "adapter_model.safetensors").is_file()
    assert metrics["eval_episodes"]["episodes"] == 1
    assert len((out / "eval_episodes.jsonl").read_text().splitlines()) == 1  # main process only


@pytest.mark.parametrize("name", ["cpu_ddp", "multi_gpu", "deepspeed_zero2", "deepspeed_zero3",
                                  "fsdp"])
def test_accelerate_configs_load(name: str) -> None:
    config = ClusterConfig.from_yaml_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert config.num_machines == 1
    assert config.num_processes >= 2
