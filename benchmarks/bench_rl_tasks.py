"""Pass rate of a policy on the RL tasks, before (or after) an RL run.

Usage:
    python benchmarks/bench_rl_tasks.py --config configs/rl_cpu.yaml --adapter runs/sft-easy \
        [--samples 4] [--temperature 1.0] [--out runs/sft-easy/rl-tasks.jsonl]

Takes the same ``--config`` and flags as ``toolthink-train rl`` (model, adapter,
``edits``, ``tasks_per_problem``, ``task_seed``, ``max_turns``, tokens per turn),
builds the same synthetic tasks (`toolthink.training.rl.easy_tasks` on the
train split), and plays ``--samples`` episodes per task with the rollout code RL
uses (`toolthink.rollout.episodes.run_episodes`, grammar-constrained), without
training. It prints the pass rate, the share of tasks with at least one passing
sample (what a GRPO group needs for a learning signal), the mean reward, and the
first commands' keywords. ``--temperature 0`` plays greedy (then one sample).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import RolloutConfig, run_episodes
from toolthink.tool import SandboxPool
from toolthink.training.rl import easy_tasks
from toolthink.training.rl_cli import load_policy, make_parser, rl_problems


def main() -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--samples", type=int, default=4, help="episodes per task (GRPO group size)")
    own.add_argument("--temperature", type=float, default=None,
                     help="sampling temperature; default: the config's; 0: greedy")
    own.add_argument("--batch", type=int, default=8,
                     help="episodes played together (63 tasks at once, 2026-11-29: over 9 min)")
    own.add_argument("--limit", type=int, default=None, help="the first N tasks only")
    own.add_argument("--out", type=Path, default=None, help="write the episodes here (jsonl)")
    ours, rest = own.parse_known_args()
    (config,) = make_parser().parse_args_and_config(rest)
    rollout = config.rollout_config()
    if ours.temperature is not None:
        rollout = RolloutConfig(
            max_new_tokens=rollout.max_new_tokens, max_total_tokens=rollout.max_total_tokens,
            temperature=ours.temperature, top_p=rollout.top_p, top_k=rollout.top_k,
            restrict_old_text=rollout.restrict_old_text)
    samples = 1 if rollout.temperature == 0 else ours.samples
    model, tokenizer, _ = load_policy(config)
    model.train(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    constraint = GrammarConstraint.for_tokenizer(tokenizer, vocab_size=int(model.config.vocab_size))
    started = time.perf_counter()
    with SandboxPool() as sandbox:
        tasks = easy_tasks(rl_problems(config), sandbox, edits=config.edits,
                           per_problem=config.tasks_per_problem, seed=config.task_seed,
                           timeout=config.test_timeout)[: ours.limit]
        episodes = []
        for _ in range(samples):
            for start in range(0, len(tasks), ours.batch):
                episodes += run_episodes(model, tokenizer, tasks[start:start + ours.batch],
                                         sandbox=sandbox, env_config=config.env_config(),
                                         config=rollout, constraint=constraint)
    seconds = time.perf_counter() - started
    n = len(tasks)
    solved = {i % n for i, e in enumerate(episodes) if e.passed}
    first = collections.Counter(e.commands[0].split(" ")[0] for e in episodes if e.commands)
    print(f"{n} tasks x {samples} samples, temperature {rollout.temperature}: {seconds:.0f} s")
    print(f"  pass rate {statistics.fmean(e.passed for e in episodes):.3f}, "
          f"tasks with a passing sample {len(solved)}/{n}, "
          f"mean reward {statistics.fmean(sum(e.rewards) for e in episodes):+.3f}, "
          f"truncated {statistics.fmean(e.truncated for e in episodes):.2f}, "
          f"turns {statistics.fmean(len(e.commands) for e in episodes):.2f}")
    print(f"  first commands: {dict(first.most_common())}")
    if ours.out is not None:
        ours.out.parent.mkdir(parents=True, exist_ok=True)
        with ours.out.open("w", encoding="utf-8") as f:
            for i, episode in enumerate(episodes):
                f.write(json.dumps({"task": tasks[i % n].task_id, **episode.as_record()}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
