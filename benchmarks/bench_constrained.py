"""Cost of grammar-constrained decoding: llguidance and xgrammar, then end to end.

Usage:
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_constrained.py \
        [--data-dir ../shared/data] [--problems 40] [--prompts 4] [--max-new-tokens 32] \
        [--batch 8] [--skip-xgrammar] [--json out.json]

1. Set-up: the tokenizer tables and one grammar compile, per backend.
2. Microseconds per mask (p50, p99, mean): the same grammars and the embedded
   model's tokenizer (49,152 tokens), along the canonical tokens of realistic
   commands: the HumanEvalFix fixes (buggy -> canonical) as REPL, REPW, ADDL,
   DELL, then EXIT, each with its file's bounded turn grammar. Also the cost of
   applying a mask to a (1, V) logits row.
3. End to end on the embedded model (SmolLM2-135M-Instruct, fp32, CPU): a
   constrained generation, then an unconstrained one forced to the same number
   of tokens; overhead = time per token constrained / unconstrained - 1, and
   the processor's own share of the constrained run. Greedy with B=1, and
   sampling with B=--batch rows (as GRPO samples a group).

xgrammar (``pip install --no-deps xgrammar==0.2.8 apache-tvm-ffi``) is only
needed for its columns; it is not a dependency of toolthink.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from toolthink.dsl import SEPARATOR, execute, parse_command
from toolthink.models.embedded import load_embedded_model, load_embedded_tokenizer
from toolthink.rollout.bitmasks import apply_bitmask
from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.grammars import turn_grammar


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default_data = (
        os.environ.get("TOOLTHINK_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(default_data),
                        help="folder holding humanevalpack/humanevalpack_python.jsonl")
    parser.add_argument("--problems", type=int, default=40, help="HumanEvalFix problems used")
    parser.add_argument("--prompts", type=int, default=4, help="end-to-end prompts per mode")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens per generation")
    parser.add_argument("--batch", type=int, default=8, help="rows for the sampled run")
    parser.add_argument("--skip-xgrammar", action="store_true", help="llguidance only")
    parser.add_argument("--skip-e2e", action="store_true", help="masks only, no model")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser


# ---------------------------------------------------------------------------
# Workload: files and the commands that fix them


def load_tasks(data_dir: Path, count: int) -> list[tuple[list[str], list[str]]]:
    """(file lines, fixing commands) for the first ``count`` HumanEvalFix problems."""
    tasks = []
    path = data_dir / "humanevalpack" / "humanevalpack_python.jsonl"
    with path.open(encoding="utf-8") as f:
        for raw in f:
            row = json.loads(raw)
            buggy = (row["prompt"] + row["buggy_solution"]).splitlines()
            fixed = (row["prompt"] + row["canonical_solution"]).splitlines()
            tasks.append((buggy, [*fixing_commands(buggy, fixed), "EXIT"]))
            if len(tasks) == count:
                break
    return tasks


def fixing_commands(buggy: list[str], fixed: list[str]) -> list[str]:
    """Commands that turn ``buggy`` into ``fixed``, each valid for the file as it then is."""
    commands = []
    shift = 0  # lines added minus lines deleted so far
    matcher = difflib.SequenceMatcher(a=buggy, b=fixed, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        olds, news = buggy[i1:i2], fixed[j1:j2]
        for k in range(max(len(olds), len(news))):
            number = i1 + k + 1 + shift
            if k < len(olds) and k < len(news):
                commands.append(replace_command(number, olds[k], news[k]))
            elif k < len(news):
                commands.append(f"ADDL {number} >>>{news[k]}")
                shift += 1
            else:
                commands.append(f"DELL {number}")
                shift -= 1
    return commands


def replace_command(number: int, old: str, new: str) -> str:
    """REPW on the changed middle when it is short and expressible, else REPL."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    middle_old, middle_new = old[start:len(old) - end], new[start:len(new) - end]
    if middle_old and SEPARATOR not in middle_old and len(middle_old) < 20:
        return f"REPW {number} >>>{middle_old} >>>{middle_new}"
    return f"REPL {number} >>>{new}"


@dataclass
class ListEditor:
    """The smallest `toolthink.dsl.Editor`: a list of lines."""

    lines: list[str]
    exited: bool = False

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def line(self, number: int) -> str:
        return self.lines[number - 1]

    def splice(self, start: int, stop: int, lines: Sequence[str], *, command: object) -> None:
        self.lines[start:stop] = lines

    def exit(self, *, command: object) -> None:
        self.exited = True


# ---------------------------------------------------------------------------
# Statistics


def summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p99 and mean in microseconds."""
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3  # noqa: E731
    return {"p50_us": pick(0.50), "p99_us": pick(0.99),
            "mean_us": statistics.fmean(ordered) / 1e3, "n": len(ordered)}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Masks


def llguidance_masks(constraint: GrammarConstraint, work: list[tuple[str, list[int]]]) -> list[int]:
    bitmask = torch.zeros((1, constraint.words), dtype=torch.int32)
    size = constraint.words * 4
    samples = []
    for grammar, ids in work:
        matcher = constraint.matcher(grammar)
        for token in ids:
            start = time.perf_counter_ns()
            matcher.unsafe_compute_mask_ptr(bitmask.data_ptr(), size)
            samples.append(time.perf_counter_ns() - start)
            assert matcher.consume_token(token), "the workload left the grammar"
    return samples


def xgrammar_masks(compiled: dict[str, Any], work: list[tuple[str, list[int]]],
                   vocab_size: int) -> list[int]:
    import xgrammar as xgr  # noqa: PLC0415 - optional

    bitmask = xgr.allocate_token_bitmask(1, vocab_size)
    samples = []
    for grammar, ids in work:
        matcher = xgr.GrammarMatcher(compiled[grammar])
        for token in ids:
            start = time.perf_counter_ns()
            matcher.fill_next_token_bitmask(bitmask)
            samples.append(time.perf_counter_ns() - start)
            assert matcher.accept_token(token), "the workload left the grammar"
    return samples


def xgrammar_text(grammar: str) -> str:
    """The llguidance text as plain Lark (xgrammar reads neither the header nor captures)."""
    return grammar.replace("%llguidance {}\n", "").replace('[capture="exit"]', "")


# ---------------------------------------------------------------------------
# End to end


class Timed(LogitsProcessor):
    """Accumulates the wrapped processor's own time."""

    def __init__(self, inner: LogitsProcessor) -> None:  # inner: swapped between calls
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        start = time.perf_counter()
        out: torch.FloatTensor = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def end_to_end(model: Any, tokenizer: Any, constraint: GrammarConstraint,
               tasks: list[tuple[list[str], list[str]]], *, prompts: int, max_new_tokens: int,
               batch: int, sample: bool) -> dict[str, float]:
    tokenizer.padding_side = "left"
    totals = {"constrained_s": 0.0, "unconstrained_s": 0.0, "processor_s": 0.0, "tokens": 0}
    for lines, _ in tasks[:prompts]:
        listing = "\n".join(f"{n} {line}" for n, line in enumerate(lines, start=1))
        messages = [
            {"role": "system", "content": "Repair the code. Send one command per turn: "
             "ADDL n >>>text, REPL n >>>text, REPW n >>>old >>>new, DELL n, or EXIT."},
            {"role": "user", "content": listing},
        ]
        inputs = tokenizer.apply_chat_template(
            [messages] * batch, add_generation_prompt=True, return_tensors="pt",
            return_dict=True, padding=True,
        )
        options = {"do_sample": sample, "pad_token_id": tokenizer.eos_token_id}
        if sample:
            options.update(top_k=0, top_p=1.0, temperature=1.0)
        processor = Timed(constraint.processor(turn_grammar(lines=lines)))

        def constrained(processor: Timed = processor, inputs: Any = inputs,
                        options: dict[str, Any] = options) -> int:
            torch.manual_seed(0)
            out = model.generate(**inputs, max_new_tokens=max_new_tokens,
                                 logits_processor=LogitsProcessorList([processor]), **options)
            return int(out.shape[1] - inputs["input_ids"].shape[1])

        def unconstrained(steps: int, inputs: Any = inputs,
                          options: dict[str, Any] = options) -> None:
            torch.manual_seed(0)
            model.generate(**inputs, max_new_tokens=steps, min_new_tokens=steps, **options)

        # order C U U C: the 2 cores are shared and load drifts
        begin = time.perf_counter()
        steps = constrained()
        totals["constrained_s"] += time.perf_counter() - begin
        totals["unconstrained_s"] += timed(lambda steps=steps: unconstrained(steps))
        totals["unconstrained_s"] += timed(lambda steps=steps: unconstrained(steps))
        processor.inner = constraint.processor(turn_grammar(lines=lines))  # one per call
        begin = time.perf_counter()
        assert constrained() == steps  # same seed, same tokens
        totals["constrained_s"] += time.perf_counter() - begin
        totals["processor_s"] += processor.seconds
        totals["tokens"] += 2 * steps
    tokens = totals["tokens"]
    return {
        "rows": batch,
        "steps": tokens,
        "unconstrained_ms_per_step": 1e3 * totals["unconstrained_s"] / tokens,
        "constrained_ms_per_step": 1e3 * totals["constrained_s"] / tokens,
        "processor_ms_per_step": 1e3 * totals["processor_s"] / tokens,
        "overhead_pct": 100 * (totals["constrained_s"] / totals["unconstrained_s"] - 1),
        "processor_share_pct": 100 * totals["processor_s"] / totals["constrained_s"],
    }


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    figures: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    tokenizer = load_embedded_tokenizer()
    tasks = load_tasks(args.data_dir, args.problems)

    seconds = timed(lambda: GrammarConstraint(tokenizer))
    constraint = GrammarConstraint(tokenizer)
    figures["llguidance_tokenizer_s"] = seconds
    figures.update(measure_masks(args, tokenizer, constraint, tasks))
    if not args.skip_e2e:
        figures.update(run_end_to_end(args, tokenizer, constraint, tasks))
    figures["load_average_after"] = os.getloadavg()[0]
    json.dump(figures, sys.stdout, indent=2)
    print()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


def measure_masks(args: argparse.Namespace, tokenizer: Any, constraint: GrammarConstraint,
                  tasks: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    variants = {
        "turn": lambda lines: turn_grammar(),
        "bounded": lambda lines: turn_grammar(len(lines)),
        "restricted": lambda lines: turn_grammar(lines=lines),
    }
    work: dict[str, list[tuple[str, list[int]]]] = {}
    for name, make in variants.items():
        work[name] = []
        for lines, commands in tasks:
            editor = ListEditor(list(lines))
            for command in commands:  # each command against the file as it then is
                ids = tokenizer(command, add_special_tokens=False, split_special_tokens=True)
                work[name].append((make(editor.lines), ids.input_ids))
                outcome = execute(parse_command(command), editor)
                assert outcome.ok, outcome.message
        grammars = sorted({g for g, _ in work[name]})
        compile_s = [timed(lambda g=g: constraint.matcher(g)) for g in grammars]
        figures[f"llguidance_compile_{name}_ms"] = 1e3 * statistics.fmean(compile_s)
        figures[f"llguidance_mask_{name}"] = summary(llguidance_masks(constraint, work[name]))
    figures["commands"] = len(work["turn"])
    base = turn_grammar()
    copy_s = [timed(lambda: constraint.matcher(base)) for _ in range(1000)]
    figures["turn_grammar_text_us"] = 1e6 * statistics.median(
        [timed(lambda: turn_grammar(40)) for _ in range(200)]
    )
    figures["llguidance_matcher_copy_us"] = 1e6 * statistics.median(copy_s)

    scores = torch.randn(1, constraint.vocab_size)
    bitmask = torch.full((1, constraint.words), -1, dtype=torch.int32)
    apply_ns = []
    for _ in range(2000):
        start = time.perf_counter_ns()
        apply_bitmask(scores, bitmask)
        apply_ns.append(time.perf_counter_ns() - start)
    figures["apply_mask_1xV"] = summary(apply_ns)

    if not args.skip_xgrammar:
        import xgrammar as xgr  # noqa: PLC0415

        start = time.perf_counter()
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=constraint.vocab_size)
        compiler = xgr.GrammarCompiler(info, cache_enabled=False)
        figures["xgrammar_tokenizer_s"] = time.perf_counter() - start
        for name in ("turn", "bounded"):  # xgrammar reads neither %regex nor &
            compiled, compile_s = {}, []
            for grammar in sorted({g for g, _ in work[name]}):
                start = time.perf_counter()
                lark = xgr.Grammar.from_lark(xgrammar_text(grammar))
                compiled[grammar] = compiler.compile_grammar(lark)
                compile_s.append(time.perf_counter() - start)
            figures[f"xgrammar_compile_{name}_ms"] = 1e3 * statistics.fmean(compile_s)
            figures[f"xgrammar_mask_{name}"] = summary(
                xgrammar_masks(compiled, work[name], constraint.vocab_size)
            )
    return figures


def run_end_to_end(args: argparse.Namespace, tokenizer: Any, constraint: GrammarConstraint,
                   tasks: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    model = load_embedded_model()
    model.generation_config.top_k = None  # transformers' defaults would add warpers
    model.generation_config.top_p = None
    model.generate(**tokenizer("warm up", return_tensors="pt"), max_new_tokens=4,
                   pad_token_id=tokenizer.eos_token_id)
    figures["e2e_greedy"] = end_to_end(model, tokenizer, constraint, tasks, prompts=args.prompts,
                                       max_new_tokens=args.max_new_tokens, batch=1, sample=False)
    figures["e2e_sampled"] = end_to_end(model, tokenizer, constraint, tasks, prompts=args.prompts,
                                        max_new_tokens=args.max_new_tokens, batch=args.batch,
                                        sample=True)
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
