"""SFT: the loss mask and token layout on the real tokenizer, a tiny-model run, configs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerBase

from toolthink.models.devices import CPU_BF16_ENV, cpu_has_native_bf16
from toolthink.rollout.chat import IGNORE_INDEX, ChatFormat
from toolthink.training.sft import check_inputs, prepare_data
from toolthink.training.sft_args import SFTConfigError, check_training_config
from toolthink.training.sft_cli import main, make_parser
from toolthink.training.sft_data import DemoDataError, encode_demos, read_demos

from .sft_support import tiny_run_flags


def _runs(labels: list[int]) -> list[list[int]]:
    """The maximal runs of labelled tokens."""
    runs: list[list[int]] = []
    previous = IGNORE_INDEX
    for label in labels:
        if label != IGNORE_INDEX:
            if previous == IGNORE_INDEX:
                runs.append([])
            runs[-1].append(label)
        previous = label
    return runs


# --- data: the loss mask and token-in/token-out, on the embedded tokenizer ---------------------


def test_loss_only_on_command_tokens(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase
) -> None:
    _, records = demos
    encoded = encode_demos(records, ChatFormat.from_tokenizer(tokenizer), max_length=None)
    assert encoded.kept == len(records)
    for record, ids, labels in zip(
        records, encoded.dataset["input_ids"], encoded.dataset["labels"], strict=True
    ):
        assert len(ids) == len(labels)
        assert all(lab in (IGNORE_INDEX, tok) for tok, lab in zip(ids, labels, strict=True))
        decoded = [tokenizer.decode(run) for run in _runs(labels)]
        assert decoded == [command + tokenizer.eos_token for command in record["commands"]]


def test_training_tokens_equal_incremental_inference(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase
) -> None:
    _, records = demos
    chat = ChatFormat.from_tokenizer(tokenizer)
    encoded = encode_demos(records, chat, max_length=None)
    for record, ids in zip(records, encoded.dataset["input_ids"], strict=True):
        # What a rollout feeds: the prompt, then per turn the sampled command ids (here
        # the demonstration's), the stop token, and the observation's ids appended as is.
        fed = chat.head_ids(record["system"], record["prompt"])
        for turn, command in enumerate(record["commands"]):
            assert ids[: len(fed)] == fed  # the context at this generation step
            fed += [*tokenizer.encode(command, add_special_tokens=False), tokenizer.eos_token_id]
            if turn < len(record["commands"]) - 1:
                fed += chat.observation_ids(record["observations"][turn])
        assert ids == fed
        # and the text is the chat template's rendering of the same conversation
        messages = [{"role": "system", "content": record["system"]},
                    {"role": "user", "content": record["prompt"]}]
        for turn, command in enumerate(record["commands"]):
            messages.append({"role": "assistant", "content": command})
            if turn < len(record["commands"]) - 1:
                messages.append({"role": "user", "content": record["observations"][turn]})
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        assert text.startswith(tokenizer.decode(ids))


@pytest.mark.parametrize(("overlong", "kept_short"), [("skip", False), ("truncate", True)])
def test_overlong_episodes(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase,
    overlong: str, kept_short: bool,
) -> None:
    _, records = demos
    chat = ChatFormat.from_tokenizer(tokenizer)
    full = encode_demos(records, chat, max_length=None)
    limit = sorted(len(ids) for ids in full.dataset["input_ids"])[-1] - 1  # the longest is over
    encoded = encode_demos(records, chat, max_length=limit, overlong=overlong)
    assert all(len(ids) <= limit for ids in encoded.dataset["input_ids"])
    assert (encoded.kept == len(records)) is kept_short
    assert encoded.skipped + encoded.truncated >= 1
    # what was dropped is said with its count and the fix (issue 17); nothing cut, nothing said
    note = encoded.overlong_note(limit)
    if overlong == "skip":
        assert note == (f"{encoded.skipped} of {len(records)} demonstrations were over "
                        f"max_length={limit} tokens (longest: {limit + 1}) and were not trained "
                        f"on: pass --max_length {limit + 1} to keep them, or --overlong truncate "
                        "to cut them")
    else:
        assert note is None


def test_no_episode_fits_names_the_fix(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase
) -> None:
    with pytest.raises(DemoDataError, match=r"max_length=20 .*--overlong truncate"):
        encode_demos(demos[1], ChatFormat.from_tokenizer(tokenizer), max_length=20)


def test_read_demos_from_folder_or_file(demos: tuple[Path, list[dict[str, Any]]]) -> None:
    folder, records = demos
    assert read_demos(folder) == read_demos(folder / "demos.jsonl") == records
    with pytest.raises(DemoDataError, match="toolthink data demos"):
        read_demos(folder / "missing")
    held = sorted({r["split"] for r in records})
    with pytest.raises(DemoDataError, match=re.escape(f"it holds {held!r}") + ".*--eval_splits"):
        read_demos(folder, ["validation"])


# --- training: a tiny model for a few steps --------------------------------------------------


def test_tiny_lora_run_trains_adapter_and_writes_outputs(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    flags = [*tiny_run_flags(tiny_model_dir, demos[0], out),
             "--eval_splits", "train", "--eval_strategy", "steps", "--eval_steps", "2"]
    assert main(flags) == 0
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json",
                 "toolthink_sft.json", "metrics.json", "loss_curve.png", "README.md",
                 "checkpoint-2"):
        assert (out / name).exists(), name
    adapter = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert lora_b, "no LoRA B matrix saved"
    assert all(bool(t.abs().sum() > 0) for t in lora_b)  # peft starts B at zero
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["global_step"] == 3
    assert [e["step"] for e in metrics["log_history"] if "loss" in e] == [1, 2, 3]
    assert {e["step"] for e in metrics["log_history"] if "eval_loss" in e} == {2, 3}
    assert metrics["eval"]["eval_loss"] > 0
    config = json.loads((out / "toolthink_sft.json").read_text())
    assert config["toolthink"]["lora_r"] == 16
    assert config["trl"]["max_length"] == 512


def test_bf16_autocast_on_cpu_trains_float32_lora(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bf16"
    assert main([*tiny_run_flags(tiny_model_dir, demos[0], out), "--bf16", "true",
                 "--save_strategy", "no"]) == 0
    adapter = load_file(out / "adapter_model.safetensors")
    assert {t.dtype for t in adapter.values()} == {torch.float32}  # float32 master weights
    assert all(bool(t.abs().sum() > 0) for n, t in adapter.items() if "lora_B" in n)
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert len(losses) == 3
    assert all(0 < loss < 100 for loss in losses)
    assert json.loads((out / "toolthink_sft.json").read_text())["trl"]["bf16"] is True


def test_tiny_full_finetune_changes_weights_and_resumes(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    flags = [*tiny_run_flags(tiny_model_dir, demos[0], out), "--full_finetune", "true"]
    assert main(flags) == 0
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(out / "model.safetensors")
    changed = [name for name, t in before.items() if not torch.equal(t, after[name])]
    assert "model.embed_tokens.weight" in changed
    assert any("mlp" in name for name in changed)
    # resume from the step-2 checkpoint: one more step to step 4
    resumed = [*flags, "--max_steps", "4", "--resume_from_checkpoint", str(out / "checkpoint-2")]
    assert main(resumed) == 0
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 4


# --- configuration: parsing and errors that name the fix -------------------------------------


def test_cpu_config_parses() -> None:
    config_path = Path(__file__).parents[2] / "configs" / "sft_cpu.yaml"
    args, config = make_parser().parse_args_and_config(
        args=["--config", str(config_path), "--lora_r", "8"]
    )
    assert args.model_name_or_path == "embedded"
    assert args.lora_r == 8  # flags override the file
    assert args.lora_target_modules == ["all-linear"]
    # bf16 unset in the file: the CPU probe decides (toolthink.models.devices)
    assert (config.bf16, config.gradient_checkpointing, config.use_cpu) == (
        cpu_has_native_bf16(), False, True)


@pytest.mark.parametrize(("native", "flags", "want"), [
    ("1", [], True),
    ("0", [], False),
    ("1", ["--bf16", "false"], False),  # a user can still force float32
    ("0", ["--bf16", "true"], True),  # forced: works, slowly (a warning)
])
def test_cpu_bf16_follows_the_probe_unless_given(
    native: str, flags: list[str], want: bool, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, native)
    config_path = Path(__file__).parents[2] / "configs" / "sft_cpu.yaml"
    _, config = make_parser().parse_args_and_config(args=["--config", str(config_path), *flags])
    assert config.bf16 is want
    slow = [r for r in caplog.records if "will be slower than float32" in r.getMessage()]
    assert len(slow) == (1 if native == "0" and want else 0)


def test_gpu_config_parses() -> None:
    config_path = Path(__file__).parents[2] / "configs" / "sft_gpu.yaml"
    args, config = make_parser().parse_args_and_config(
        args=["--config", str(config_path), "--use_cpu", "true"]  # bf16 parses only with a GPU
    )
    assert (args.lora_r, args.lora_target_modules) == (16, ["all-linear"])
    assert (config.max_length, config.bf16) == (2048, True)
    assert args.eval_splits == ["validation"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--lora_r", "0"], r"lora_r=0 must be a positive rank: use 16"),
    (["--lora_dropout", "1.5"], r"lora_dropout=1.5 is not a probability"),
    (["--embedded_per_problem", "0"], r"embedded_per_problem=0 must be at least 1"),
    (["--max_demos", "0"], r"max_demos=0 must be at least 1"),
])
def test_bad_values_name_the_fix(flags: list[str], message: str) -> None:
    with pytest.raises(SFTConfigError, match=message):
        make_parser().parse_args_and_config(args=["--output_dir", "x", *flags])


def test_main_reports_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output_dir", "x", "--lora_r", "-1"]) == 2
    assert "lora_r=-1 must be a positive rank" in capsys.readouterr().err


def test_bf16_on_cpu_is_accepted_and_fp16_is_named() -> None:
    _, config = make_parser().parse_args_and_config(
        args=["--output_dir", "x", "--use_cpu", "true", "--bf16", "true"]
    )
    check_training_config(config)  # bf16 autocasts on a CPU run: no refusal
    config.bf16, config.fp16 = False, True  # set after parsing: accelerate refuses it earlier
    with pytest.raises(SFTConfigError, match=r"fp16=True on a CPU run: .* pass --fp16 false"):
        check_training_config(config)


def test_embedded_demos_keep_held_out_problems_out() -> None:
    """Without --demos, SFT builds from the train split only: eval's problems never train."""
    from toolthink.tasks import load_embedded_corpus  # noqa: PLC0415
    from toolthink.tasks.splits import split_of  # noqa: PLC0415
    from toolthink.training.sft_data import build_embedded_demos  # noqa: PLC0415

    held_out = {p.task_id for p in load_embedded_corpus() if split_of(p.task_id) == "test"}
    records = build_embedded_demos(1, seed=0, splits=("train",))
    assert records
    assert all(r["split"] == "train" for r in records)
    seen = {r["task_id"] for r in records}
    assert not seen & held_out
    # Donor lines come from train problems too: no held-out line reaches a demonstration.
    held_lines = {line.strip() for p in load_embedded_corpus() if p.task_id in held_out
                  for line in p.solution.splitlines() if len(line.strip()) > 25}
    train_lines = {line.strip() for p in load_embedded_corpus() if p.task_id not in held_out
                   for line in p.solution.splitlines()}
    for record in records:
        for command in record["commands"]:
            assert not any(line in command for line in held_lines - train_lines)
    with pytest.raises(DemoDataError, match="no embedded problem is in splits"):
        build_embedded_demos(1, splits=("validation",))


# --- the command line: bad paths are named before anything loads -------------------------------

CPU = ["--use_cpu", "true", "--bf16", "false"]


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the model loads: every check below runs before it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded before the arguments were checked")

    monkeypatch.setattr("toolthink.training.sft.load_model_and_tokenizer", refuse)


@pytest.mark.parametrize(("flags", "message"), [
    (["--config", "/nonexistent.yaml"], r"--config '/nonexistent.yaml' does not exist.*"
     r"e.g. --config configs/sft_cpu.yaml"),
    (["--config={configs}"], r"--config '.*configs' is a folder: name a YAML file in it"),
    (["--output_dir", "{file}", *CPU], r"output_dir='.*file' is a file: pass --output_dir a "
     "folder"),
    (["--output_dir", "{file}/sub", *CPU], r"output_dir='.*file/sub' lies under the file"),
    (["--output_dir", "{tmp}/out", "--model_name_or_path", "/nonexistent", *CPU],
     r"model_name_or_path='/nonexistent' looks like a path but does not exist: .* hub id .*"
     r"org/name; it needs the network or the local Hugging Face cache"),
    (["--output_dir", "{tmp}/out", "--demos", "{file}", *CPU], r".*file:1 is not JSON \("
     r"Expecting value.*\): pass the demos.jsonl"),
])
def test_main_names_bad_paths_before_loading(
    flags: list[str], message: str, tmp_path: Path, no_model: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file").write_text("root:x:0:0:root:/root:/bin/bash\n")
    configs = Path(__file__).parents[2] / "configs"
    flags = [f.replace("{file}", str(tmp_path / "file")).replace("{tmp}", str(tmp_path))
             .replace("{configs}", str(configs)) for f in flags]
    assert main(flags) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_read_demos_names_the_bad_line_and_the_fix(tmp_path: Path) -> None:
    """The reader's message (tests/data/test_store.py has every kind), then what to pass."""
    path = tmp_path / "demos.jsonl"
    path.write_text(json.dumps({"split": "train"}) + "\n[1, 2]\n")
    with pytest.raises(DemoDataError, match=r"demos.jsonl:2 is a JSON list, not a JSON object"
                       r".*: pass the demos.jsonl that `toolthink data demos --out DIR` wrote"):
        read_demos(path)


def test_demos_are_read_once_before_loading(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    copy = tmp_path / "demos.jsonl"
    copy.write_bytes((demos[0] / "demos.jsonl").read_bytes())
    args, config = make_parser().parse_args_and_config(args=[
        "--config", str(Path(__file__).parents[2] / "configs" / "sft_cpu.yaml"),
        "--demos", str(copy), "--output_dir", str(tmp_path / "out"), "--max_demos", "2"])
    checked = check_inputs(args, config)
    copy.unlink()  # prepare_data uses what check_inputs read: the file is not read again
    train, evaluation = prepare_data(args, config, tokenizer, checked)
    assert train.kept == 2
    assert evaluation is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="transformers refuses bf16 only on CPU")
def test_main_on_cpu_without_config_names_the_cpu_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bf16" in err
    assert "start from --config configs/sft_cpu.yaml or pass --bf16 false --use_cpu true" in err


def test_ctrl_c_during_training_keeps_checkpoints_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("toolthink.training.sft_cli.train_sft", interrupted)
    assert main(["--output_dir", str(tmp_path / "out"), *CPU]) == 130
    err = capsys.readouterr().err
    assert "toolthink-train sft: interrupted; checkpoints already saved in output_dir remain" in err
    assert "Traceback" not in err


def test_logits_of_trained_positions_only_give_the_full_loss_and_gradient(
    demos: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from toolthink.training.sft import load_model_and_tokenizer  # noqa: PLC0415
    from toolthink.training.sft_trainer import CommandSFTTrainer  # noqa: PLC0415

    args, config = make_parser().parse_args_and_config(
        args=[*tiny_run_flags(tiny_model_dir, demos[0], tmp_path / "out"), "--full_finetune",
              "true", "--bf16", "false"])
    model, tokenizer = load_model_and_tokenizer(args, config)
    train, _ = prepare_data(args, config, tokenizer)
    trainer = CommandSFTTrainer(model=model, args=config, processing_class=tokenizer,
                                train_dataset=train.dataset.remove_columns("id"))
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] == IGNORE_INDEX).float().mean() > 0.5  # most positions untrained
    found = []
    for only in (False, True):
        trainer.trained_logits_only = only
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        found.append((loss.item(), [p.grad.clone() for p in model.parameters()
                                    if p.grad is not None]))
    (full, full_grads), (gathered, gathered_grads) = found
    assert gathered == pytest.approx(full, rel=1e-5)
    assert len(gathered_grads) == len(full_grads) > 0
    for a, b in zip(full_grads, gathered_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    accuracy = trainer._metrics["train"]["mean_token_accuracy"]
    assert len(accuracy) == 2
    assert accuracy[0] == pytest.approx(accuracy[1])


def test_untrained_commands_get_no_label(
    demos: tuple[Path, list[dict[str, Any]]], tokenizer: PreTrainedTokenizerBase
) -> None:
    _, records = demos
    chat = ChatFormat.from_tokenizer(tokenizer)
    record = next(r for r in records if len(r["commands"]) >= 3)
    marked = {**record, "untrained": [1]}
    plain = encode_demos([record], chat, max_length=None)
    encoded = encode_demos([marked], chat, max_length=None)
    assert encoded.dataset["input_ids"] == plain.dataset["input_ids"]
    decoded = [tokenizer.decode(run) for run in _runs(encoded.dataset["labels"][0])]
    kept = [c for i, c in enumerate(record["commands"]) if i != 1]
    assert decoded == [command + tokenizer.eos_token for command in kept]
    with pytest.raises(ValueError, match=r"untrained=\[7\]"):
        chat.encode_episode(record["system"], record["prompt"], record["commands"],
                            record["observations"], untrained=[7])
