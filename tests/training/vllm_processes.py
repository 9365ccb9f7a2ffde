"""Run by test_vllm_server under ``torchrun --standalone --nproc_per_node 2`` (CPU, gloo).

Process 0 holds a `ModelClient` (the vLLM server's stand-in); both processes
play episodes through one `VLLMServerSampler`, with different numbers of
episodes (none on one side in two of the cases), and write what they played
to ``OUT/<case>-<rank>.json``. A process that left the turn loop early would
hang the other one in a collective; the test's timeout catches that.

Usage: python vllm_processes.py CACHE_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from tests.tiny_models import tiny_llama
from tests.training.test_episodes import easy_tasks
from tests.training.vllm_fakes import ModelClient
from toolthink.env import EnvConfig
from toolthink.tool import SandboxPool
from toolthink.training.constrained import GrammarConstraint
from toolthink.training.embedded_model import load_embedded_tokenizer
from toolthink.training.episodes import RolloutConfig, run_episodes
from toolthink.training.vllm_server import VLLMServerSampler

CASES = {"main-plays": (2, 0), "other-plays": (0, 2), "both-play": (1, 3)}


def main() -> None:
    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    tokenizer = load_embedded_tokenizer(cache)
    constraint = GrammarConstraint.for_tokenizer(tokenizer)
    model = tiny_llama(len(tokenizer)).eval()
    pad = int(tokenizer.pad_token_id if isinstance(tokenizer.pad_token_id, int)
              else constraint.eos_token_ids[0])
    for case, counts in CASES.items():
        client = ModelClient(model, constraint, pad) if accelerator.is_main_process else None
        sampler = VLLMServerSampler(client, constraint, accelerator)
        torch.manual_seed(rank)
        tasks = easy_tasks(4, seed=rank)[: counts[rank]]
        with SandboxPool() as pool:
            episodes = run_episodes(
                model, tokenizer, tasks, sandbox=pool, env_config=EnvConfig(max_turns=3),
                constraint=constraint, sampler=sampler,
                config=RolloutConfig(max_new_tokens=8),
            )
        record = {
            "episodes": [{"tokens": len(e.completion_ids), "mask": len(e.env_mask),
                          "logprobs": len(e.logprobs), "turns": e.turns} for e in episodes],
            "processes": accelerator.num_processes,
            "requests": len(client.requests) if client is not None else 0,
        }
        (out / f"{case}-{rank}.json").write_text(json.dumps(record))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
