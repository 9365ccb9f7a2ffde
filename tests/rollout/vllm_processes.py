"""Run by test_vllm_server under ``torchrun --standalone --nproc_per_node 2`` (CPU, gloo).

Process 0 holds a `ModelClient` (the vLLM server's stand-in); both processes
play episodes through one `VLLMServerSampler`, with different numbers of
episodes (none on one side in two of the cases), greedily, and write what
they played to ``OUT/<case>-<rank>.json``, with whether it equals what the
process plays alone with transformers ``generate``. Two more cases make
process 0 fail (a request, the server check); every process must raise. A
process that left the turn loop early would hang the other one in a
collective; the test's timeout catches that.

Usage: python vllm_processes.py CACHE_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from accelerate import Accelerator

from tests.rollout.test_episodes import easy_tasks
from tests.rollout.vllm_fakes import ModelClient
from tests.tiny_models import tiny_llama
from toolthink.env import EnvConfig
from toolthink.models.embedded import load_embedded_tokenizer
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import RolloutConfig, run_episodes
from toolthink.rollout.vllm_server import VLLMServerSampler
from toolthink.tool import SandboxPool

CASES = {"main-plays": (2, 0), "other-plays": (0, 2), "both-play": (1, 3)}
CONFIG = RolloutConfig(max_new_tokens=8, temperature=0.0)
ENV = EnvConfig(max_turns=3)


class FailingClient:
    """Answers nothing: the server is down."""

    def generate(self, prompts: list[list[int]], **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("server down")

    def get_server_info(self) -> dict[str, Any]:
        return {"model_config": {"logprobs_mode": "raw_logprobs", "max_model_len": 4096}}


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

    def play(tasks: list[Any], sampler: Any) -> list[Any]:
        with SandboxPool() as pool:
            return run_episodes(model, tokenizer, tasks, sandbox=pool, env_config=ENV,
                                constraint=constraint, sampler=sampler, config=CONFIG)

    for case, counts in CASES.items():
        client = ModelClient(model, constraint, pad) if accelerator.is_main_process else None
        tasks = easy_tasks(4, seed=rank)[: counts[rank]]
        episodes = play(tasks, VLLMServerSampler(client, constraint, accelerator))
        alone = play(tasks, None)  # generate, this process only
        record = {
            "episodes": [{"tokens": len(e.completion_ids), "mask": len(e.env_mask),
                          "logprobs": len(e.logprobs), "turns": e.turns} for e in episodes],
            "same_as_alone": [e.completion_ids for e in episodes]
            == [e.completion_ids for e in alone],
            "processes": accelerator.num_processes,
            "requests": len(client.requests) if client is not None else 0,
        }
        (out / f"{case}-{rank}.json").write_text(json.dumps(record))

    failing = FailingClient() if accelerator.is_main_process else None
    attempts = {
        "server-fails": lambda: play(easy_tasks(2, seed=rank),
                                     VLLMServerSampler(failing, constraint, accelerator)),
        "check-fails": lambda: VLLMServerSampler.from_trainer(
            SimpleNamespace(accelerator=accelerator, vllm_mode="server",
                            vllm_generation=SimpleNamespace(vllm_client=failing)),
            constraint, max_episode_tokens=1024),
    }
    for case, attempt in attempts.items():
        try:
            attempt()
            error = ""
        except Exception as e:  # every process must get here
            error = f"{type(e).__name__}: {e}"
        (out / f"{case}-{rank}.json").write_text(json.dumps({"error": error}))
    accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
