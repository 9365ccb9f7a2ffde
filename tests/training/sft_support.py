"""Builders shared by the SFT tests: a few real demonstrations and a tiny model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from toolthink.data.demos import DemoConfig, build_demos
from toolthink.data.store import write_demos
from toolthink.env import EnvConfig
from toolthink.tasks import load_embedded_corpus
from toolthink.tool import SandboxPool

PROBLEMS = 6
"""Embedded problems the SFT tests build demonstrations from."""


def build_demo_folder(out: Path, pool: SandboxPool) -> tuple[Path, list[dict[str, Any]]]:
    """Verified demonstrations of the first embedded problems, written as `toolthink data demos`
    writes them (about a second)."""
    records = list(build_demos(
        load_embedded_corpus()[:PROBLEMS],
        DemoConfig(per_problem=1, env=EnvConfig(timeout=1.0)),
        pool=pool,
    ).records)
    assert records, "no demonstration was built"
    write_demos(out, records, {"count": len(records)})
    return out, records


def save_tiny_model(out: Path, tokenizer: PreTrainedTokenizerBase) -> Path:
    """A random 2-layer, 64-wide Llama over the embedded vocabulary, saved with the tokenizer."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_run_flags(model_dir: Path, demos: Path, output_dir: Path) -> list[str]:
    """Flags of a few-step CPU run of ``toolthink-train sft`` on the tiny model."""
    return [
        "--config", str(Path(__file__).parents[2] / "configs" / "sft_cpu.yaml"),
        "--model_name_or_path", str(model_dir),
        "--demos", str(demos),
        "--output_dir", str(output_dir),
        "--max_length", "512",
        "--overlong", "truncate",
        "--per_device_train_batch_size", "2",
        "--max_steps", "3",
        "--save_steps", "2",
        "--learning_rate", "1e-2",
        "--warmup_steps", "0",
        "--report_to", "none",
        "--disable_tqdm", "true",
        "--eval_episodes", "0",  # the held-out episode hook has its own tests (test_sft_eval)
    ]
