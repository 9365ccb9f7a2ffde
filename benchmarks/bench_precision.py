"""One SFT step and one RL step on the embedded model: float32 against bf16 autocast, in one run.

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_precision.py \
        [--repeats 3] [--tokens 700] [--rl-steps 2] [--skip-rl] [--skip-sft]

SFT: the embedded SmolLM2-135M-Instruct with a LoRA r16 adapter on all linear
layers (configs/sft_cpu.yaml's), one batch of 2 embedded-corpus demonstrations
cut to ``--tokens`` tokens, one step as ``toolthink-train sft`` takes it
(`sft_step`: forward under accelerate's autocast, the model's loss, backward,
AdamW step). Four variants (`VARIANTS`): the old path (float32, the logits of
every position, LoRA dropout 0.05), float32 with the logits of the trained
positions only and no dropout, bf16 autocast (``bf16=True, use_cpu=True``) with
the old dropout, and today's default (bf16, trained positions, no dropout). One step of
each variant per round, after a warm-up round, so that the machine's load
falls on all of them alike; medians of wall and of this process's CPU seconds
(less sensitive to other processes on the cores). The learning rate is 0, so
every variant sees the same weights and the losses are comparable.

RL: ``toolthink.training.rl_cli.train`` with configs/rl_cpu.yaml's settings
(groups of 4 episodes of up to 3 turns, 48 tokens per command) for
``--rl-steps`` steps in float32 and then in bf16 (sampling and training under
the trainer's autocast); the per-step split comes from its metrics.jsonl
(generation, sandbox, training: the log-prob passes and the update).
Episodes are sampled (temperature 1), so the two runs play different
episodes: the training seconds are also given per completion token.

Prints a markdown table per part and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch
from peft import get_peft_model

from toolthink.models.loader import EMBEDDED, load_model
from toolthink.models.lora import lora_config
from toolthink.rollout.chat import ChatFormat
from toolthink.training.sft_data import build_embedded_demos, encode_demos


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def sft_step(model: Any, optimizer: Any, batch: dict[str, torch.Tensor], *, bf16: bool,
             trained_only: bool) -> float:
    """One SFT step as `CommandSFTTrainer` under accelerate takes it; returns the loss.

    accelerate wraps the forward pass in ``torch.autocast("cpu", bfloat16)`` when
    ``bf16`` (the backward pass runs outside it, as there); the loss is the
    model's own (transformers upcasts the logits to float32 for it).
    """
    inputs: dict[str, Any] = {**batch, "use_cache": False}
    if trained_only:  # what CommandSFTTrainer.compute_loss adds
        targets = batch["labels"][:, 1:]
        trained = targets != -100
        inputs["logits_to_keep"] = torch.nn.functional.pad(trained, (0, 1), value=False)
        inputs["shift_labels"] = targets[trained]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.item())


def _peft_model(dropout: float) -> tuple[Any, Any]:
    model, tokenizer = load_model(EMBEDDED, device=None, dtype=torch.float32)
    model = get_peft_model(model, lora_config(r=16, alpha=32, dropout=dropout,
                                              targets=["all-linear"]))
    model.train()
    return model, tokenizer


# (precision is bf16, logits at trained positions only, LoRA dropout)
VARIANTS = ((False, False, 0.05), (False, True, 0.0), (True, True, 0.05), (True, True, 0.0))
"""The old path (float32, every position, SFT's old dropout 0.05), float32 with today's
loss and dropout, bf16 with the old dropout, and today's default (bf16, trained
positions, no LoRA dropout)."""


def sft_part(repeats: int, tokens: int) -> None:
    models = {dropout: _peft_model(dropout) for dropout in sorted({v[2] for v in VARIANTS})}
    tokenizer = models[0.0][1]
    records = build_embedded_demos(2, seed=0)
    encoded = encode_demos(records, ChatFormat.from_tokenizer(tokenizer), tokens, "truncate")
    rows = [row for row in encoded.dataset if len(row["input_ids"]) == tokens][:2]
    batch = {"input_ids": torch.tensor([r["input_ids"] for r in rows]),  # (2, T)
             "attention_mask": torch.ones(2, tokens, dtype=torch.long),
             "labels": torch.tensor([r["labels"] for r in rows])}
    trained = int((batch["labels"][:, 1:] != -100).sum())
    print(f"SFT: a batch of 2 x {tokens} tokens, {trained} trained tokens "
          f"({100 * trained / (2 * (tokens - 1)):.0f} % of the positions)")
    # lr 0: every variant sees the same weights, so the losses are comparable
    optimizers = {d: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=0.0)
                  for d, (m, _) in models.items()}
    wall: dict[tuple[bool, bool, float], list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[tuple[bool, bool, float], list[float]] = {v: [] for v in VARIANTS}
    losses: dict[tuple[bool, bool, float], float] = {}
    for round_ in range(repeats + 1):  # round 0 warms up every variant
        for variant in VARIANTS:
            bf16, only, dropout = variant
            started, started_cpu = time.perf_counter(), time.process_time()
            losses[variant] = sft_step(models[dropout][0], optimizers[dropout], batch,
                                       bf16=bf16, trained_only=only)
            if round_ > 0:
                wall[variant].append(time.perf_counter() - started)
                cpu[variant].append(time.process_time() - started_cpu)
        print(f"  round {round_}: " + ", ".join(
            f"{w[-1]:.1f}" if w and round_ else "-" for w in wall.values()) + f" s (load {load()})",
            flush=True)
    base, base_cpu = statistics.median(wall[VARIANTS[0]]), statistics.median(cpu[VARIANTS[0]])
    print("\n| precision | logits | LoRA dropout | median wall s/step | speed-up (wall) "
          "| median CPU s/step | speed-up (CPU) | loss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for variant in VARIANTS:
        bf16, only, dropout = variant
        w, c = statistics.median(wall[variant]), statistics.median(cpu[variant])
        print(f"| {'bf16 autocast' if bf16 else 'float32'} | "
              f"{'trained positions' if only else 'every position'} | {dropout} | {w:.2f} | "
              f"{base / w:.2f}x | {c:.2f} | {base_cpu / c:.2f}x | {losses[variant]:.5f} |")


def rl_part(steps: int) -> None:
    from toolthink.training.rl_cli import make_parser, train  # noqa: PLC0415

    config_file = Path(__file__).parents[1] / "configs" / "rl_cpu.yaml"
    rows = {}
    for bf16 in (False, True):
        with tempfile.TemporaryDirectory() as out:
            (config,) = make_parser().parse_args_and_config(
                ["--config", str(config_file), "--output_dir", out, "--max_steps", str(steps),
                 "--bf16", str(bf16).lower(), "--report_to", "none", "--save_strategy", "no",
                 "--max_problems", "4", "--trajectories_per_step", "0"])
            started = time.perf_counter()
            train(config)
            wall = time.perf_counter() - started
            records = [json.loads(line) for line in
                       (Path(out) / "metrics.jsonl").read_text().splitlines()]
            rows[bf16] = records
            print(f"  RL bf16={bf16}: {steps} steps in {wall:.0f} s (load {load()})", flush=True)
    print("\n| precision | step | s/step | generation | sandbox | training | tokens per "
          "episode | training ms per token |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for bf16, records in rows.items():
        for r in records:
            per_token = 1000 * r["time/training"] / max(r["tokens"] * 4, 1)
            print(f"| {'bf16 autocast' if bf16 else 'float32'} | {int(r['step'])} | "
                  f"{r['time/step']:.1f} | {r['time/generation']:.1f} | {r['time/sandbox']:.1f} "
                  f"| {r['time/training']:.1f} | {r['tokens']:.0f} | {per_token:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=700)
    parser.add_argument("--rl-steps", type=int, default=2)
    parser.add_argument("--skip-rl", action="store_true")
    parser.add_argument("--skip-sft", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, load {load()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if not args.skip_sft:
        sft_part(args.repeats, args.tokens)
    if not args.skip_rl:
        rl_part(args.rl_steps)
    print(f"load average at the end: {load()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
