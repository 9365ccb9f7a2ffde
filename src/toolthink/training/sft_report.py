"""What an SFT run leaves beside its weights: config, metrics, loss curve, model card.

Files written into the output folder:

    toolthink_sft.json   the resolved configuration (toolthink's and TRL's options), the
                         prompt version and the training format (chain-of-edits or direct)
                         of the training data, which `toolthink eval` checks
    metrics.json         final metrics, data counts, seconds per step, log history
    loss_curve.png       training (and eval) loss against the optimizer step
                         (loss_curve.md, a table, with fewer than 3 logged steps)
    README.md            a short model card

``eval_episodes.jsonl`` is written during training by `toolthink.training.sft_eval`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from toolthink.markdown import MIN_CURVE_POINTS, markdown_table

__all__ = ["plot_loss_curve", "write_report"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def plot_loss_curve(log_history: list[dict[str, Any]], path: Path) -> Path | None:
    """Plot training and eval loss against the step into ``path`` (PNG).

    With fewer than `toolthink.markdown.MIN_CURVE_POINTS` logged steps the
    losses go into a markdown table instead, ``path`` with the suffix ``.md``
    (a curve of one or two points looks broken).

    Returns:
        The file written (``path`` or its ``.md`` sibling); None when the
        history holds no loss (nothing written).
    """
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    if not train and not evals:
        return None
    logged = sorted({s for s, _ in train} | {s for s, _ in evals})
    if len(logged) < MIN_CURVE_POINTS:
        by_step: dict[int, list[object]] = {s: ["-", "-"] for s in logged}
        for column, points in enumerate((train, evals)):
            for step, loss in points:
                by_step[step][column] = loss
        table = markdown_table(["step", "train loss", "eval loss"],
                               [[int(s), *by_step[s]] for s in logged])
        md = path.with_suffix(".md")
        md.write_text(f"# toolthink SFT loss ({len(logged)} step(s): too few for a curve)\n\n"
                      + table, encoding="utf-8")
        return md
    import matplotlib as mpl  # noqa: PLC0415 - only the report needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for points, label, style in ((train, "train", "-o"), (evals, "eval", "-s")):
        if points:
            steps, losses = zip(*points, strict=True)
            ax.plot(steps, losses, style, markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (command tokens, nats)")
    ax.set_title("toolthink SFT")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _card(args: Any, config: Any, metrics: dict[str, Any], model_path: str,
          prompt_version: str, *, training_format: str) -> str:
    adapter = ("full fine-tuning" if args.full_finetune else
               f"LoRA r={args.lora_r}, alpha={args.lora_alpha}, "
               f"targets={args.lora_target_modules}")
    data = metrics["data"]["train"]
    train = metrics["train"]
    source = args.demos or (f"embedded corpus, built on the fly "
                            f"({args.embedded_per_problem} per problem)")
    load = ("from peft import AutoPeftModelForCausalLM\n"
            "model = AutoPeftModelForCausalLM.from_pretrained(\"<this folder>\")"
            if not args.full_finetune else
            "from transformers import AutoModelForCausalLM\n"
            "model = AutoModelForCausalLM.from_pretrained(\"<this folder>\")")
    note = metrics["data"].get("overlong_note")
    overlong = f" ({note})" if note else ""
    held_out = metrics.get("eval_episodes")
    episodes = "" if not held_out else (
        f"- Held-out episodes at step {int(held_out['step'])} (greedy, constrained, "
        f"{int(held_out['episodes'])} tasks of the embedded test split, at most "
        f"{args.eval_max_turns} turns): pass rate {held_out['pass_rate']:.2f}, EXIT rate "
        f"{held_out['exit_rate']:.2f}, malformed rate {held_out['malformed_rate']:.2f}, "
        f"{held_out['mean_turns']:.1f} turns (`eval_episodes.jsonl`)\n")
    what = ("by driving toolthink's code\neditor with one command per turn "
            "(ADDL/REPL/REPW/DELL/EXIT)" if training_format == "chain-of-edits" else
            "by answering with the whole\nfixed program at once (the paper's direct-answer "
            "baseline)")
    return f"""# toolthink SFT: {args.model_name_or_path}

A causal LM fine-tuned to repair Python programs {what}, after
Rainone, Bakker and Memisevic, "Chain-of-Edits" (arXiv 2507.05065).

- Base model: `{args.model_name_or_path}` (`{model_path}`)
- Adapter: {adapter}
- Data: {source}; {data['kept']} demonstrations, {data['tokens']} tokens,
  {data['trained_tokens']} trained (command and end-of-turn tokens only);
  {data['skipped_overlong']} skipped over max_length={config.max_length}{overlong}
- Format: {training_format}; prompt version: `{prompt_version}` (`toolthink eval`
  refuses this folder in the other mode or under another prompt version)
- Steps: {metrics['global_step']}, {metrics['seconds_per_step']:.2f} s/step,
  final train loss {train.get('train_loss', float('nan')):.4f}
- Learning rate {config.learning_rate}, batch {config.per_device_train_batch_size} x
  {config.gradient_accumulation_steps} accumulation per device
{episodes}
Files: `toolthink_sft.json` (configuration), `metrics.json`, `loss_curve.png` (or
`loss_curve.md` for fewer than 3 logged steps).
Prompts must be built with `toolthink.rollout.chat.ChatFormat` (token-in/token-out).

```python
{load}
```
"""


def write_report(
    out: Path, *, args: Any, config: Any, metrics: dict[str, Any], model_path: str,
    prompt_version: str, training_format: str = "chain-of-edits",
) -> None:
    """Write the configuration, metrics, loss curve and model card into ``out``.

    Args:
        out: The output folder (exists).
        args: `toolthink.training.sft_args.SFTScriptArguments`.
        config: TRL's ``SFTConfig``.
        metrics: The run's metrics (with ``log_history``, ``data``, ``train``).
        model_path: The folder or id the base model was loaded from.
        prompt_version: The prompt version of the training data, recorded as
            ``prompt_version`` in ``toolthink_sft.json`` for
            `toolthink.env.check_prompt_version`.
        training_format: ``chain-of-edits`` or ``direct``, recorded as
            ``training_format`` beside it.
    """
    resolved = {"prompt_version": prompt_version, "training_format": training_format,
                "toolthink": dataclasses.asdict(args),
                "trl": config.to_dict(), "model_path": model_path}
    (out / "toolthink_sft.json").write_text(
        json.dumps(_jsonable(resolved), indent=2) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(
        json.dumps(_jsonable(metrics), indent=2) + "\n", encoding="utf-8")
    plot_loss_curve(metrics.get("log_history", []), out / "loss_curve.png")
    (out / "README.md").write_text(_card(args, config, metrics, model_path, prompt_version,
                                   training_format=training_format),
                                   encoding="utf-8")
