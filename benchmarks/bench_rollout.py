"""Episodes per minute: today's sampler against the key/value-reusing one, same episodes.

Usage:
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_rollout.py \
        [--tasks 16] [--turns 10] [--batches 8 32] [--paths old new new-bf16] \
        [--max-new-tokens 48] [--max-total-tokens 8192] [--out results/rollout.json]
    python benchmarks/bench_rollout.py --from-results benchmarks/results/rollout-b8-16x10.json

Plays the same episodes (the embedded SmolLM2-135M-Instruct, greedy, one
corrupted line per task from the embedded corpus) with
`toolthink.rollout.episodes.run_episodes` through each path:

* ``old``: `toolthink.rollout.samplers.GenerateSampler`, float32, each turn
  re-reads every row (today's path before issue 15).
* ``new``: `toolthink.rollout.kv_sampler.KVCacheSampler`, float32.
* ``new-bf16``: the same with the weights in ``torch.bfloat16``.

Every episode plays exactly ``--turns`` turns: the benchmark's sampler removes
``EXIT`` from each turn's grammar, so no episode ends early (the token budget
``--max-total-tokens`` is set high enough not to cut them; the script reports
cut episodes). With ``--batches 8 32``, the same ``max(batches)`` episodes
(``--tasks`` tasks, repeated when fewer) are played in chunks of each batch
size, so per-episode costs compare across batch sizes. Prints, per path and
batch: wall seconds, episodes per minute, the share in generation, tokens the
model read and sampled; then the ratio of each path to ``old`` and whether
``new`` (float32) played token-for-token the same episodes as ``old``.

``--from-results FILE`` prints only the markdown table of a file that ``--out``
wrote (the docs' table, benchmarks/doc_tables.py), without playing anything.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from transformers import PreTrainedModel

from toolthink.data.bugs import draw_bugs
from toolthink.env import EnvConfig
from toolthink.markdown import markdown_table
from toolthink.models.embedded import load_embedded_model, load_embedded_tokenizer
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.episodes import Episode, RolloutConfig, RolloutTiming, run_episodes
from toolthink.rollout.kv_sampler import KVCacheSampler
from toolthink.rollout.samplers import GenerateSampler, TurnSample, TurnSampler
from toolthink.tasks import RepairTask, load_embedded_corpus
from toolthink.tasks.bug_kinds import LINE_EDITS
from toolthink.tool import SandboxPool

EXIT_ALTERNATIVE = "| dell | exit"
"""How ``?command`` lists EXIT in `toolthink.rollout.grammars`' turn grammars."""


@attrs.define
class NoExit:
    """A sampler whose grammars lack EXIT: episodes run to ``max_turns``.

    ``padded`` counts the tokens of each turn's rows left-padded to the
    longest: what `GenerateSampler` reads.
    """

    inner: Any
    padded: int = 0

    def keep_going(self, live: int) -> bool:
        return bool(self.inner.keep_going(live))

    def sample(self, rows: Sequence[Sequence[int]], grammars: Sequence[str],
               config: RolloutConfig) -> list[TurnSample]:
        if any(EXIT_ALTERNATIVE not in g for g in grammars):
            msg = f"a turn grammar lacks {EXIT_ALTERNATIVE!r}: update EXIT_ALTERNATIVE"
            raise ValueError(msg)
        self.padded += len(rows) * max((len(r) for r in rows), default=0)
        kept = [g.replace(EXIT_ALTERNATIVE, "| dell") for g in grammars]
        samples: list[TurnSample] = self.inner.sample(rows, kept, config)
        return samples


def tasks_for(count: int, seed: int = 0) -> list[RepairTask]:
    """``count`` one-line bugs, one per embedded problem (repeated past the corpus's size)."""
    bugs = draw_bugs(load_embedded_corpus(), seed=seed, max_edits=1, kinds=LINE_EDITS)
    tasks = [bug.task() for bug in bugs]
    return [tasks[i % len(tasks)] for i in range(count)]


def play(path: str, model: PreTrainedModel, tasks: Sequence[RepairTask], batch: int, *,
         tokenizer: Any, constraint: GrammarConstraint, env: EnvConfig, config: RolloutConfig,
         pool: SandboxPool) -> dict[str, Any]:
    """Play ``tasks`` in chunks of ``batch`` through ``path``; return its figures."""
    timing = RolloutTiming()
    episodes: list[Episode] = []
    read = 0
    for start in range(0, len(tasks), batch):
        inner: TurnSampler
        if path == "old":
            inner = GenerateSampler(model, constraint, tokenizer.pad_token_id)
        else:
            inner = KVCacheSampler(model, constraint, tokenizer.pad_token_id)
        sampler = NoExit(inner)
        episodes += run_episodes(model, tokenizer, tasks[start:start + batch], sandbox=pool,
                                 env_config=env, config=config, constraint=constraint,
                                 timing=timing, sampler=sampler)
        read += inner.stats.prefilled if isinstance(inner, KVCacheSampler) else sampler.padded
    return {
        "path": path, "batch": batch, "episodes": len(episodes), "seconds": timing.total,
        "generation_s": timing.generation, "sandbox_s": timing.sandbox,
        "per_minute": 60 * len(episodes) / timing.total,
        "turns": sum(e.turns for e in episodes), "cut": sum(e.truncated and e.turns < env.max_turns
                                                            for e in episodes),
        "sampled_tokens": sum(e.sampled_tokens for e in episodes),
        "read_tokens": read, "ids": [e.completion_ids for e in episodes],
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """The figures ``--out`` wrote, one row per (path, batch), with each path's ratio to ``old``."""
    old = {r["batch"]: r["per_minute"] for r in results if r["path"] == "old"}
    rows = [[r["path"], r["batch"], r["episodes"], r["turns"], f"{r['seconds']:.0f}",
             f"{r['per_minute']:.2f}", f"{r['seconds'] / r['episodes']:.1f}",
             f"{r['read_tokens']:,}", f"{r['sampled_tokens']:,}",
             f"{r['per_minute'] / old[r['batch']]:.2f}x" if r["batch"] in old else "-",
             " ".join(r["loadavg"])] for r in results]
    return markdown_table(["path", "batch", "episodes", "turns", "wall s", "episodes/min",
                           "s/episode", "read tokens", "sampled tokens", "ratio to old",
                           "load average (1/5/15 min) at the end"], rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--paths", nargs="+", default=["old", "new", "new-bf16"],
                        choices=["old", "new", "new-bf16"])
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-total-tokens", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here (json)")
    parser.add_argument("--from-results", type=Path, default=None, metavar="FILE",
                        help="print only the table of a file --out wrote")
    args = parser.parse_args(argv)
    if args.from_results is not None:
        print(results_table(json.loads(args.from_results.read_text())), end="")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = load_embedded_tokenizer()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    fp32 = load_embedded_model() if {"old", "new"} & set(args.paths) else None
    bf16 = load_embedded_model(dtype=torch.bfloat16) if "new-bf16" in args.paths else None
    models = {"old": fp32, "new": fp32, "new-bf16": bf16}  # old and new share the weights
    constraint = GrammarConstraint.for_tokenizer(
        tokenizer, vocab_size=int((fp32 or bf16).config.vocab_size))  # type: ignore[union-attr]
    tasks = tasks_for(max(args.tasks, *args.batches))
    env = EnvConfig(max_turns=args.turns)
    config = RolloutConfig(max_new_tokens=args.max_new_tokens,
                           max_total_tokens=args.max_total_tokens, temperature=0.0)
    print(f"{len(tasks)} episodes ({args.tasks} tasks) x {args.turns} turns, greedy, "
          f"max_new_tokens {args.max_new_tokens}, threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    results = []
    with SandboxPool() as pool:
        for batch in args.batches:
            for path in args.paths:
                with torch.no_grad():
                    result = play(path, models[path], tasks, batch, tokenizer=tokenizer,
                                  constraint=constraint, env=env, config=config, pool=pool)
                results.append(result)
                print(f"B={batch:<3} {path:<9} {result['seconds']:7.1f} s  "
                      f"{result['per_minute']:6.2f} episodes/min  "
                      f"generation {result['generation_s']:6.1f} s  "
                      f"read {result['read_tokens']:7d} tok  sampled {result['sampled_tokens']:5d}"
                      f"  turns {result['turns']} cut {result['cut']}  "
                      f"load {' '.join(result['loadavg'])}", flush=True)
    for batch in args.batches:
        figures = {r["path"]: r for r in results if r["batch"] == batch}
        if "old" not in figures:
            continue
        for path, result in figures.items():
            if path != "old":
                print(f"B={batch}: {path} / old = "
                      f"{result['per_minute'] / figures['old']['per_minute']:.2f}x episodes/min")
        if "new" in figures:
            same = sum(a == b for a, b in zip(figures["old"]["ids"], figures["new"]["ids"],
                                              strict=True))
            print(f"B={batch}: new (float32) played {same}/{len(tasks)} episodes token for "
                  "token as old")
    for path in args.paths:
        per = {r["batch"]: r["seconds"] / r["episodes"] for r in results if r["path"] == path}
        print(f"{path}: seconds per episode by batch "
              + ", ".join(f"B={b}: {s:.1f}" for b, s in per.items()))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(
            [{k: v for k, v in r.items() if k != "ids"} for r in results], indent=1))


if __name__ == "__main__":
    main()
