"""Multi-turn GRPO end to end with a tiny model: LoRA moves, rewards and curves are logged."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from tests.tiny_models import tiny_llama
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import RolloutConfig, run_episodes
from toolthink.rollout.mask_replay import replay_masks, replayed_masks
from toolthink.tasks import load_embedded_corpus
from toolthink.tool import SandboxPool
from toolthink.training.advantages import per_turn_advantages, token_advantages
from toolthink.training.rl import easy_tasks
from toolthink.training.rl_cli import load_policy, main, make_parser, rl_problems, train
from toolthink.training.rl_config import RLConfig
from toolthink.training.rl_trainer import TokenScoring, scored_log_probs

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def rl_config(tmp_path, **overrides) -> RLConfig:
    fields = {
        "output_dir": str(tmp_path / "rl"), "max_steps": 2, "per_device_train_batch_size": 4,
        "num_generations": 4, "use_cpu": True, "bf16": False, "activation_checkpointing": False,
        "learning_rate": 5e-2, "logging_steps": 1, "report_to": [], "save_strategy": "no",
        "max_turns": 2, "max_new_tokens_per_turn": 12, "max_problems": 3,
        "tasks_per_problem": 1, "lora_r": 4, "lora_alpha": 8,
    }
    fields.update(overrides)
    return RLConfig(**fields)


@pytest.mark.parametrize(("advantage", "per_token"), [("per_turn", True), ("sequence", False)])
def test_two_steps_move_lora_and_log_rewards(tmp_path, tokenizer, advantage: str,
                                             per_token: bool, loss_inputs) -> None:
    config = rl_config(tmp_path, advantage=advantage)
    trainer = train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    assert len(loss_inputs) == 2  # one loss per step
    for seen in loss_inputs:  # the paper's (B, C), one value per token; TRL's (B,)
        want = seen["completion_ids"].shape if per_token else seen["completion_ids"].shape[:1]
        assert seen["advantages"].shape == want
    if per_token:  # the last step's advantages: those of its episodes' turns
        width = seen["advantages"].shape[1]
        episodes = trainer.rollout.episodes
        turns = per_turn_advantages([list(e.rewards) for e in episodes], config.num_generations)
        want = [[*token_advantages(t, e.turn_of_token), *[0.0] * (width - len(e.turn_of_token))]
                for e, t in zip(episodes, turns, strict=True)]
        assert rounded(seen["advantages"].tolist()) == rounded(want)  # TRL shuffles the rows
    lora = {n: p for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert lora
    assert any(p.abs().sum() > 0 for p in lora.values())  # lora_B starts at zero
    out = tmp_path / "rl"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        for key in ("reward", "pass_rate", "turns", "malformed_rate", "tokens",
                    "time/generation", "time/sandbox", "time/training"):
            assert key in record
        assert 0.05 < record["memory/peak_rss_gib"] < 64  # a process of this size, in GiB
        assert -1.5 <= record["reward"] <= 1.0
    # two steps are two points: a table, not a curve that looks broken (issue 17)
    assert not (out / "curves.png").exists()
    table = (out / "curves.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table if line.startswith("| ")][1:] == [
        "---", "1", "2"]
    assert (out / "adapter_model.safetensors").exists()
    from toolthink.env import PROMPT_VERSION  # noqa: PLC0415

    assert json.loads((out / "toolthink_rl.json").read_text())["prompt_version"] == PROMPT_VERSION
    trajectories = (out / "trajectories.jsonl").read_text().splitlines()
    assert len(trajectories) == 2 * config.trajectories_per_step
    assert "commands" in json.loads(trajectories[0])
    assert any("episodes/reward" in h for h in trainer.state.log_history)


def rounded(rows: list[list[float]]) -> list[list[float]]:
    """Rows rounded to 4 places, sorted (the same rows in any order compare equal)."""
    return sorted([round(v, 4) + 0.0 for v in row] for row in rows)


def test_a_resumed_run_continues_its_metrics(tmp_path, tokenizer) -> None:
    # Ctrl-C says "continue with --resume_from_checkpoint true": the steps already
    # logged stay, the new ones are appended
    config = rl_config(tmp_path, save_strategy="steps", save_steps=1)
    train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    resumed = rl_config(tmp_path, save_strategy="steps", save_steps=1, max_steps=3,
                        resume_from_checkpoint="true")
    train(resumed, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    lines = (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


def test_replayed_masks_cover_commands_only(tokenizer) -> None:
    model = tiny_llama(len(tokenizer)).eval()
    constraint = GrammarConstraint.for_tokenizer(tokenizer, vocab_size=len(tokenizer))
    with SandboxPool() as pool:
        tasks = easy_tasks(load_embedded_corpus()[:2], pool)
        episodes = run_episodes(model, tokenizer, tasks, sandbox=pool,
                                config=RolloutConfig(max_new_tokens=12), constraint=constraint)
    width = max(len(e.completion_ids) for e in episodes) + 3
    masks = replayed_masks(episodes, constraint, width)
    assert masks.shape == (len(episodes), width, constraint.words)
    for row, episode in enumerate(episodes):
        model_positions = [i for i, m in enumerate(episode.env_mask) if m == 1]
        other = [i for i in range(width) if i not in set(model_positions)]
        assert (masks[row, other] == -1).all()
        first = [i for i in model_positions if episode.turn_of_token[i] == 0]
        ids = torch.tensor([[episode.completion_ids[i] for i in first]])
        assert torch.equal(masks[row, first], replay_masks(constraint, episode.grammars[0], ids)[0])


def test_config_errors_name_the_value_and_the_fix(tmp_path, no_vllm) -> None:
    with pytest.raises(ValueError, match=r"advantage='turn' is not one of"):
        rl_config(tmp_path, advantage="turn")
    with pytest.raises(ValueError, match="num_generations=1 leaves no group"):
        rl_config(tmp_path, num_generations=1)
    with pytest.raises(ValueError, match=r"use_vllm=True needs vLLM in the training "
                       r"environment too.*pip install -e '\.\[vllm\]' in the checkout"):
        rl_config(tmp_path, use_vllm=True)


@pytest.fixture
def no_vllm(monkeypatch) -> None:
    monkeypatch.setattr("toolthink.training.rl_config.vllm_installed", lambda: False)


def test_use_vllm_takes_server_mode_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("toolthink.training.rl_config.vllm_installed", lambda: True)
    config = rl_config(tmp_path, use_vllm=True, vllm_mode="server",
                       vllm_server_base_url="http://gpu0:8000")
    assert config.use_vllm
    with pytest.raises(ValueError, match=r"vllm_mode='colocate'.*set vllm_mode: server"):
        rl_config(tmp_path, use_vllm=True, vllm_mode="colocate")
    with pytest.raises(ValueError, match="vllm_structured_outputs_regex is set"):
        rl_config(tmp_path, use_vllm=True, vllm_structured_outputs_regex="EXIT")


@pytest.mark.parametrize(("overrides", "named"), [
    ({"mask_replay": False}, "mask_replay=False"),
    ({"top_p": 0.9}, "top_p=0.9"),
    ({"top_k": 20}, "top_k=20"),
    ({"min_p": 0.05}, "min_p=0.05"),
])
def test_use_vllm_refuses_settings_that_bias_the_importance_weights(
        tmp_path, monkeypatch, overrides: dict, named: str) -> None:
    # TRL divides by the server's log q, taken after these cuts; the trainer's pass is not
    monkeypatch.setattr("toolthink.training.rl_config.vllm_installed", lambda: True)
    wanted = re.escape(named) + r".*vllm_importance_sampling_correction: false"
    with pytest.raises(ValueError, match=wanted):
        rl_config(tmp_path, use_vllm=True, **overrides)
    config = rl_config(tmp_path, use_vllm=True, vllm_importance_sampling_correction=False,
                       **overrides)
    assert config.use_vllm


def test_cli_names_what_use_vllm_needs(capsys, no_vllm) -> None:
    assert main(["--output_dir", "x", "--use_vllm", "true", "--use_cpu", "true",
                 "--bf16", "false"]) == 2
    assert "pip install -e '.[vllm]'" in capsys.readouterr().err


def test_cli_reports_a_bad_flag(capsys) -> None:
    assert main(["--output_dir", "x", "--advantage", "turn"]) == 2
    assert "advantage='turn'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["rl_cpu.yaml", "rl_gpu.yaml"])
def test_shipped_configs_parse(name: str, tmp_path) -> None:
    path = Path(__file__).parents[2] / "configs" / name
    # transformers refuses bf16 here; the GPU config's MBPP tasks need a data folder
    cpu_only = ["--bf16", "false", "--data_dir", str(tmp_path)] if "gpu" in name else []
    (config,) = make_parser().parse_args_and_config(["--config", str(path), *cpu_only])
    assert config.task_source == ("mbpp" if "gpu" in name else "embedded")
    assert config.num_generations == 4
    assert config.beta == 0.01
    assert config.epsilon == 0.2
    assert config.advantage == "per_turn"
    if "gpu" in name:
        assert config.max_episode_tokens == 2048  # the paper's context length


def test_the_loss_scores_sampled_tokens_with_the_sampler_log_probs(tokenizer) -> None:
    """Mask replay, token layout and positions agree: recomputed log q == the sampler's."""
    model = tiny_llama(len(tokenizer)).eval()
    constraint = GrammarConstraint.for_tokenizer(tokenizer, vocab_size=len(tokenizer))
    with SandboxPool() as pool:
        tasks = easy_tasks(load_embedded_corpus()[:2], pool)
        torch.manual_seed(2)
        episodes = run_episodes(model, tokenizer, tasks * 2, sandbox=pool,
                                config=RolloutConfig(max_new_tokens=12), constraint=constraint)
    width = max(len(e.completion_ids) for e in episodes)
    prompt_width = max(len(e.prompt_ids) for e in episodes)
    ids = torch.full((len(episodes), prompt_width + width), 2, dtype=torch.long)
    attention = torch.zeros_like(ids)
    scored = torch.zeros((len(episodes), width), dtype=torch.bool)
    for row, e in enumerate(episodes):  # TRL's layout: prompts left-padded, completions right
        ids[row, prompt_width - len(e.prompt_ids):prompt_width] = torch.tensor(e.prompt_ids)
        ids[row, prompt_width:prompt_width + len(e.completion_ids)] = torch.tensor(
            e.completion_ids)
        attention[row, prompt_width - len(e.prompt_ids):prompt_width + len(e.completion_ids)] = 1
        scored[row, : len(e.env_mask)] = torch.tensor(e.env_mask, dtype=torch.bool)
    scoring = TokenScoring(scored, replayed_masks(episodes, constraint, width))
    with torch.no_grad():
        logps, _ = scored_log_probs(model, ids, attention, width, scoring)
    for row, e in enumerate(episodes):
        got = logps[row, : len(e.logprobs)]
        want = torch.tensor(e.logprobs)
        assert torch.allclose(got[scored[row, : len(e.logprobs)]],
                              want[scored[row, : len(e.logprobs)]], atol=1e-4)
        assert (got[~scored[row, : len(e.logprobs)]] == 0).all()


def test_bf16_autocast_on_cpu_moves_a_float32_lora(tmp_path, tokenizer) -> None:
    config = rl_config(tmp_path, bf16=True, max_steps=1)
    assert config.bf16
    assert config.use_cpu
    trainer = train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    lora = {n: p for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert lora
    assert {p.dtype for p in lora.values()} == {torch.float32}  # float32 master weights
    assert any(p.abs().sum() > 0 for p in lora.values())
    (record,) = [json.loads(line)
                 for line in (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert -1.5 <= record["reward"] <= 1.0


@pytest.mark.parametrize(("flags", "want"), [
    ({}, torch.float32),
    ({"bf16": True, "use_cpu": False}, torch.bfloat16),
    ({"fp16": True, "use_cpu": False}, torch.float16),
    ({"fp16": True, "use_cpu": False, "use_lora": False}, torch.float32),
    ({"bf16": True}, torch.float32),  # use_cpu: the CPU configs keep float32
])
def test_policy_dtype_follows_bf16_and_fp16(tmp_path, flags: dict, want: torch.dtype) -> None:
    config = rl_config(tmp_path)
    for name, value in flags.items():  # set after construction: transformers refuses bf16 here
        setattr(config, name, value)
    assert config.policy_dtype() == want


def test_a_bf16_config_loads_the_policy_in_bfloat16(tmp_path, tokenizer) -> None:
    base = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    adapter = tmp_path / "adapter"
    get_peft_model(tiny_llama(len(tokenizer)), LoraConfig(r=2, target_modules="all-linear")
                   ).save_pretrained(adapter)
    config = rl_config(tmp_path, model_name_or_path=str(base), adapter=str(adapter))
    config.bf16, config.use_cpu = True, False
    model, _, peft_config = load_policy(config)
    assert peft_config is None  # the adapter is trained further
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert {d for n, d in dtypes.items() if "lora_" not in n} == {torch.bfloat16}
    assert {d for n, d in dtypes.items() if "lora_" in n} == {torch.float32}  # peft's upcast


def test_an_adapter_is_trained_further_with_rls_lora_dropout(tmp_path, tokenizer) -> None:
    # SFT saves its adapters with dropout 0.05; episodes are sampled in eval mode,
    # so RL's loss must see the same policy: its lora_dropout (default 0) replaces it
    base = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    adapter = tmp_path / "adapter"
    get_peft_model(tiny_llama(len(tokenizer)),
                   LoraConfig(r=2, lora_dropout=0.05, target_modules="all-linear")
                   ).save_pretrained(adapter)
    for dropout in (0.0, 0.2):
        config = rl_config(tmp_path, model_name_or_path=str(base), adapter=str(adapter),
                           lora_dropout=dropout)
        model, _, _ = load_policy(config)
        assert model.peft_config["default"].lora_dropout == dropout
        layers = [m for n, m in model.named_modules() if n.endswith("lora_dropout.default")]
        assert layers
        if dropout == 0.0:
            assert all(isinstance(m, torch.nn.Identity) for m in layers)
        else:
            assert all(m.p == dropout for m in layers)


@pytest.mark.parametrize(("overrides", "env", "message"), [
    ({"task_source": "humaneval"}, None, r"task_source='humaneval' is not one of \('embedded'"),
    ({"task_source": "mbpp"}, None, r"needs the benchmark folder: set data_dir \(--data_dir DIR\) "
                                    "or TOOLTHINK_DATA_DIR"),
    ({"task_source": "mbpp", "data_dir": "/nonexistent/data"}, None, "is not a folder"),
    ({"task_source": "mbpp"}, "/nonexistent/env", r"'/nonexistent/env' \(from data_dir or "),
])
def test_task_source_errors_name_the_value_and_the_fix(
    tmp_path, monkeypatch: pytest.MonkeyPatch, overrides: dict, env: str | None, message: str
) -> None:
    monkeypatch.delenv("TOOLTHINK_DATA_DIR", raising=False)
    if env is not None:
        monkeypatch.setenv("TOOLTHINK_DATA_DIR", env)
    with pytest.raises(ValueError, match=message):
        rl_config(tmp_path, **overrides)


def test_mbpp_problems_come_from_the_train_split_only(tmp_path, data_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTHINK_DATA_DIR", str(data_dir))  # data_dir's default
    config = rl_config(tmp_path, task_source="mbpp", max_problems=None)
    assert config.data_dir == str(data_dir)
    problems = rl_problems(config)
    numbers = [int(p.task_id.removeprefix("MBPP/")) for p in problems]
    assert min(numbers) >= 601  # MBPP's train split is 601-974
    assert len(numbers) > 300


def test_rl_trains_on_mbpp_synthetic_bugs(tmp_path, tokenizer, data_dir: Path) -> None:
    config = rl_config(tmp_path, task_source="mbpp", data_dir=str(data_dir), max_problems=2,
                       max_steps=1, tasks_per_problem=2)
    train(config, model=tiny_llama(len(tokenizer)), tokenizer=tokenizer)
    tasks = json.loads((tmp_path / "rl" / "tasks.json").read_text())
    assert tasks
    first_two = {p.task_id for p in rl_problems(config)}
    assert len(first_two) == 2
    assert {t["task_id"] for t in tasks.values()} <= first_two
    assert all(int(t.removeprefix("MBPP/")) >= 601 for t in first_two)
    assert json.loads((tmp_path / "rl" / "rl_config.json").read_text())["task_source"] == "mbpp"


def test_cli_reports_a_missing_mbpp_file(tmp_path, capsys) -> None:
    status = main(["--output_dir", str(tmp_path / "rl"), "--task_source", "mbpp",
                   "--data_dir", str(tmp_path), "--use_cpu", "true", "--bf16", "false"])
    assert status == 2
    assert "MBPP" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [
    ("/nonexistent.yaml", r"--config '/nonexistent.yaml' does not exist.*configs/rl_cpu.yaml"),
    ("{configs}", r"--config '.*configs' is a folder: name a YAML file in it"),
])
def test_cli_names_an_unreadable_config(value: str, message: str, capsys) -> None:
    configs = str(Path(__file__).parents[2] / "configs")
    assert main(["--config", value.replace("{configs}", configs)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err)
    assert "Traceback" not in err


def test_cli_names_a_bad_adapter_or_output_dir_before_loading(tmp_path, capsys) -> None:
    config = str(Path(__file__).parents[2] / "configs" / "rl_cpu.yaml")
    assert main(["--config", config, "--adapter", str(tmp_path / "nope"),
                 "--output_dir", str(tmp_path / "out")]) == 2
    assert "holds no adapter_config.json" in capsys.readouterr().err
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["--config", config, "--output_dir", str(afile / "sub")]) == 2
    assert "pass --output_dir a folder" in capsys.readouterr().err
