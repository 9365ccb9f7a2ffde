"""The SFT evaluation hook: held-out constrained episodes logged during a tiny run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from toolthink.data.heldout import embedded_test_tasks
from toolthink.env import EnvConfig
from toolthink.rollout.episodes import RolloutConfig
from toolthink.tool import SandboxPool
from toolthink.training.sft_args import SFTConfigError
from toolthink.training.sft_cli import main, make_parser
from toolthink.training.sft_eval import EPISODES_FILE, PREFIX, EpisodeEvaluation

from .sft_support import tiny_run_flags

KEYS = ("pass_rate", "mean_turns", "exit_rate", "malformed_rate", "truncated_rate", "episodes")


def test_hook_plays_held_out_episodes_and_logs_them(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path,
    sandbox_pool: SandboxPool,
) -> None:
    out = tmp_path / "run"
    flags = [*tiny_run_flags(tiny_model_dir, demos[0], out), "--max_steps", "2",
             "--save_steps", "100", "--eval_episodes", "2", "--eval_every_steps", "1",
             "--eval_max_turns", "2", "--eval_max_new_tokens", "8"]
    assert main(flags) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    logged = [e for e in metrics["log_history"] if PREFIX + "pass_rate" in e]
    assert [e["step"] for e in logged] == [1, 2]  # every step, the last one once
    for entry in logged:
        for key in KEYS:
            assert PREFIX + key in entry, key
        assert entry[PREFIX + "episodes"] == 2
        assert 1 <= entry[PREFIX + "mean_turns"] <= 2
        for key in ("pass_rate", "exit_rate", "malformed_rate", "truncated_rate"):
            assert 0.0 <= entry[PREFIX + key] <= 1.0
    assert metrics["eval_episodes"]["step"] == 2
    assert "Held-out episodes at step 2" in (out / "README.md").read_text()
    # the hook logs beside each step's loss line and TRL's train metrics, not instead of them
    losses = [e for e in metrics["log_history"] if "loss" in e]
    assert [e["step"] for e in losses] == [1, 2]
    assert all("mean_token_accuracy" in e for e in losses)
    records = [json.loads(line) for line in (out / EPISODES_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 1, 2, 2]
    held_out = [t.task_id for t in embedded_test_tasks(sandbox_pool)[:2]]
    assert [r["task_id"] for r in records[:2]] == held_out
    for record in records:
        assert 1 <= len(record["commands"]) <= 2
        assert record["exited"] == (record["infos"][-1]["status"] == "exit")


def test_zero_episodes_turns_the_hook_off(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    flags = [*tiny_run_flags(tiny_model_dir, demos[0], out), "--max_steps", "1",
             "--eval_episodes", "0"]
    assert main(flags) == 0
    assert not (out / EPISODES_FILE).exists()
    history = json.loads((out / "metrics.json").read_text())["log_history"]
    assert not any(PREFIX + "pass_rate" in e for e in history)


def test_hook_defaults() -> None:
    args, _ = make_parser().parse_args_and_config(args=["--output_dir", "x", "--use_cpu", "true"])
    assert (args.eval_episodes, args.eval_every_steps, args.eval_max_turns) == (0, 0, 10)
    config_path = Path(__file__).parents[2] / "configs" / "sft_cpu.yaml"
    args, _ = make_parser().parse_args_and_config(args=["--config", str(config_path)])
    assert (args.eval_episodes, args.eval_every_steps, args.eval_max_turns) == (2, 0, 3)


@pytest.mark.parametrize(("flags", "message"), [
    (["--eval_episodes", "-1"], r"eval_episodes=-1, eval_every_steps=0 must be >= 0"),
    (["--eval_max_turns", "0"], r"eval_max_turns=0, eval_max_new_tokens=96 must be >= 1"),
])
def test_bad_hook_values_name_the_fix(flags: list[str], message: str) -> None:
    with pytest.raises(SFTConfigError, match=message):
        make_parser().parse_args_and_config(args=["--output_dir", "x", *flags])


def test_evaluate_restores_train_mode_and_is_due_on_schedule(
    tiny_model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase, tmp_path: Path,
    sandbox_pool: SandboxPool,
) -> None:
    logged: list[dict[str, float]] = []
    tasks = embedded_test_tasks(sandbox_pool)[:1]
    hook = EpisodeEvaluation(
        tokenizer, tmp_path, log=logged.append, episodes=3, every_steps=4,
        env_config=EnvConfig(max_turns=1), rollout=RolloutConfig(max_new_tokens=4,
                                                                 temperature=0.0),
        tasks=tasks,
    )
    tiny_model.train()
    try:
        result = hook.evaluate(tiny_model, step=4)
        assert tiny_model.training  # played in eval mode, handed back in train mode
    finally:
        hook.close()
        tiny_model.eval()  # a session fixture: leave it as found
    assert result["episodes"] == 1  # three asked, one task given
    assert [sorted(k.removeprefix(PREFIX) for k in entry) for entry in logged] == [
        sorted([*KEYS, "sampled_tokens", "seconds"])]
    # every 4 steps and the last (10), each once
    assert [s for s in range(1, 11) if hook._due(s, 10)] == [8, 10]  # step 4 already done
