"""``toolthink eval``: pass@k of a model, Chain-of-Edits against direct answers.

::

    toolthink eval --model embedded --dataset quixbugs --data-dir ../shared/data \\
        --samples 4 --k 1,4 --mode both --out runs/eval-quixbugs

prints a table (pass@k per mode side by side, overall and per bug kind, mean
turns and generated tokens) and writes ``results.json`` and ``episodes.jsonl``
(replay it with ``toolthink show``) into ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from toolthink.commands import (
    EXIT_USAGE,
    DefaultsHelpFormatter,
    adapter_folder_problem,
    non_negative_float,
    output_folder_problem,
    positive_int,
    usage_error,
)
from toolthink.env import EnvConfig
from toolthink.errors import ToolthinkError
from toolthink.evaluation.eval_config import ENV_HELP, EvalConfig
from toolthink.evaluation.journal import JOURNAL_FILE
from toolthink.models.deprecations import silence_upstream_deprecations
from toolthink.models.shipped import AUTO, adapter_help, resolve_adapter
from toolthink.tasks.own import OwnTask, TaskFileError, check_in_sandbox, load_own_tasks

if TYPE_CHECKING:
    from toolthink.evaluation.evaluator import ModeResult
    from toolthink.tasks import RepairTask

__all__ = ["CONFIG_FLAGS", "DATA_DIR_ENV", "JOURNAL_FILE", "add_device_arguments", "check_device",
           "device_spec", "eval_config", "main", "make_parser", "parse_ks"]

DATA_DIR_ENV = "TOOLTHINK_DATA_DIR"

_PROG = "toolthink eval"

_MODES = {"coe": ("chain-of-edits",), "direct": ("direct",), "both": ("chain-of-edits", "direct")}


def parse_ks(text: str) -> tuple[int, ...]:
    """``"1,4"`` -> ``(1, 4)``; raises ``argparse.ArgumentTypeError`` naming the value."""
    try:
        ks = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        msg = f"--k {text!r} must be positive integers separated by commas, e.g. 1,4"
        raise argparse.ArgumentTypeError(msg)
    return ks


def device_spec(text: str) -> str:
    """``--device`` value: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (spelling checked only)."""
    from toolthink.models.devices import DeviceError, check_device_spec  # noqa: PLC0415

    try:
        return check_device_spec(text)
    except DeviceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` and ``--dtype`` (shared by ``toolthink eval`` and ``toolthink repair``)."""
    from toolthink.models.devices import DTYPES  # noqa: PLC0415

    parser.add_argument("--device", type=device_spec, default="auto",
                        help="auto (default: cuda when torch sees a GPU, else cpu), cpu, cuda "
                        "or cuda:N")
    parser.add_argument("--dtype", choices=("auto", *DTYPES), default="auto",
                        help="weights' dtype; auto (default): bfloat16 on a GPU that supports "
                        "it or a CPU with native bf16 (avx512_bf16/amx_bf16; override the probe "
                        "with TOOLTHINK_CPU_BF16=0|1), else float32")


def check_device(args: argparse.Namespace) -> str:
    """Resolve ``args.device`` and ``args.dtype`` on this machine; a readable line of both.

    Raises:
        DeviceError: CUDA asked for and not available, or a dtype the GPU lacks.
    """
    from toolthink.models.devices import resolve_device, resolve_dtype  # noqa: PLC0415

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    return f"{device}, {str(dtype).removeprefix('torch.')}"


CONFIG_FLAGS = ("samples", "max_new_tokens", "direct_max_new_tokens", "batch")
"""The `EvalConfig` fields set by a flag of their own name (``--max-new-tokens``)."""


def _config_argument(parser: argparse.ArgumentParser, name: str) -> None:
    """Add ``--NAME`` for the `EvalConfig` (or `EnvConfig`) field ``name``: its default and help."""
    fields = attrs.fields_dict(EvalConfig)
    if name in fields:
        field = fields[name]
        help_text: str = field.metadata["help"]
    else:
        field, help_text = attrs.fields_dict(EnvConfig)[name], ENV_HELP[name]
    parser.add_argument(f"--{name.replace('_', '-')}", type=positive_int, default=field.default,
                        help=help_text)


def eval_config(args: argparse.Namespace, temperature: float) -> EvalConfig:
    """The `EvalConfig` of parsed ``toolthink eval`` arguments.

    Raises:
        ValueError: The config refuses the combination (e.g. pass@4 of 1 sample).
    """
    return EvalConfig(ks=args.k, modes=_MODES[args.mode], temperature=temperature,
                      env=EnvConfig(max_turns=args.max_turns),
                      **{name: getattr(args, name) for name in CONFIG_FLAGS})


def make_parser() -> argparse.ArgumentParser:
    """Build the ``toolthink eval`` argument parser."""
    from toolthink.evaluation.datasets import DATASETS  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="toolthink eval", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (default), a model folder or a cached hub id")
    parser.add_argument("--adapter", default=AUTO, help=adapter_help())
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="evaluation set (default: embedded, the held-out split of the "
                        "corpus shipped in toolthink)")
    parser.add_argument("--tasks", metavar="FILE.jsonl",
                        help="your own repair tasks instead of --dataset: one JSON object a "
                        "line with id, buggy_code, tests (docs/own-tasks.md; default: none)")
    parser.add_argument("--data-dir", help=f"benchmark folder (default: ${DATA_DIR_ENV}); "
                        "needed for humanevalfix, quixbugs, mbpp-synthetic")
    _config_argument(parser, "samples")
    ks = attrs.fields(EvalConfig).ks
    parser.add_argument("--k", type=parse_ks, default=ks.default, help=ks.metadata["help"])
    parser.add_argument("--mode", choices=tuple(_MODES), default="both",
                        help="coe (Chain-of-Edits), direct, or both side by side")
    parser.add_argument("--limit", type=positive_int,
                        help="evaluate the first N tasks only (default: all)")
    parser.add_argument("--temperature", type=non_negative_float,
                        help="sampling temperature (default: 0, greedy, for --samples 1; else 0.8)")
    for name in ("max_turns", "max_new_tokens", "direct_max_new_tokens", "batch"):
        _config_argument(parser, name)
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and synthetic bugs")
    parser.add_argument("--out", default="runs/eval", help="output folder (default: runs/eval)")
    parser.add_argument("--no-figures", action="store_true",
                        help="skip pass_at_k.png and turns.png")
    add_device_arguments(parser)
    return parser


def _own_tasks(args: argparse.Namespace) -> list[OwnTask] | None:
    """The tasks of ``--tasks FILE``, schema-checked (None without it); sets ``args.dataset``."""
    if args.tasks is None:
        args.dataset = args.dataset or "embedded"
        return None
    if args.dataset is not None:
        usage_error(_PROG, f"--tasks {args.tasks} and --dataset {args.dataset} both name the "
                    "tasks: pass one of them")
    if not Path(args.tasks).is_file():
        usage_error(_PROG, f"--tasks {args.tasks!r} is not a file: pass a JSONL file of "
                    "tasks (docs/own-tasks.md; example: docs/examples/tasks.jsonl)")
    try:
        own = load_own_tasks(args.tasks)
    except TaskFileError as e:
        usage_error(_PROG, f"--tasks: {e}")
    args.dataset = Path(args.tasks).stem
    return own[:args.limit]


def _data_dir(args: argparse.Namespace) -> str | None:
    from toolthink.evaluation.datasets import NEEDS_DATA_DIR  # noqa: PLC0415

    data_dir: str | None = args.data_dir or os.environ.get(DATA_DIR_ENV)
    if args.dataset not in NEEDS_DATA_DIR:
        return data_dir
    if not data_dir:
        msg = (f"--dataset {args.dataset} needs the benchmark folder: pass --data-dir DIR or set "
               f"{DATA_DIR_ENV} (the layout of ../shared/data)")
        usage_error(_PROG, msg)
    if not Path(data_dir).is_dir():
        msg = (f"data folder {data_dir!r} (from --data-dir or {DATA_DIR_ENV}) is not a folder: "
               "pass the folder that holds humanevalpack/, quixbugs/ and mbxp_mbpp/")
        usage_error(_PROG, msg)
    return data_dir


def _check_usage(args: argparse.Namespace) -> float:
    """The sampling temperature, after the checks that exit 2 before any expensive work."""
    temperature: float = args.temperature if args.temperature is not None else (
        0.0 if args.samples == 1 else 0.8)
    if args.samples > 1 and temperature == 0:
        usage_error(_PROG, "--samples > 1 with --temperature 0 repeats one greedy answer: "
                    "pass --temperature > 0")
    problem = output_folder_problem("--out", args.out)
    if problem is not None:
        usage_error(_PROG, problem)
    args.adapter = resolve_adapter(args.model, args.adapter)
    if args.adapter is not None and (problem := adapter_folder_problem("--adapter",
                                                                       args.adapter)):
        usage_error(_PROG, problem)
    return temperature


def _figures_and_page(out: Path, results: Sequence[ModeResult], *, ks: Sequence[int],
                      title: str, args: argparse.Namespace, console: Console) -> None:
    """Write pass_at_k.png and turns.png (unless ``--no-figures``), then report.html, to ``out``."""
    if not args.no_figures:
        from toolthink.evaluation.figures import plot_pass_at_k, plot_turns  # noqa: PLC0415

        written = [plot_pass_at_k(results, ks, out / "pass_at_k.png", title=title),
                   plot_turns(results, out / "turns.png", max_turns=args.max_turns)]
        console.print("figures: " + ", ".join(str(p) for p in written if p is not None))
    from toolthink.evaluation.page import write_page  # noqa: PLC0415
    from toolthink.evaluation.run_folder import read_run  # noqa: PLC0415

    page = write_page(read_run(out)[:1], out / "report.html", title=f"toolthink eval: {title}")
    console.print(f"results page: {page} (open it in a browser)")


def _journal_key(args: argparse.Namespace, tasks: Sequence[RepairTask], config: EvalConfig,
                 data_dir: str | None, placement: str) -> dict[str, object]:
    """The settings that decide what each attempt plays: a journal resumes only under them."""
    return {"model": args.model, "adapter": args.adapter, "dataset": args.dataset,
            "tasks_file": args.tasks, "data_dir": data_dir, "limit": args.limit,
            "task_ids": [t.task_id for t in tasks], "modes": list(config.modes),
            "samples": config.samples, "temperature": config.temperature,
            "max_turns": config.env.max_turns, "max_new_tokens": config.max_new_tokens,
            "direct_max_new_tokens": config.direct_max_new_tokens, "seed": args.seed,
            "placement": placement}


def _base_model_modes(adapter: str | None, modes: Sequence[str]) -> tuple[str, ...]:
    """With ``--mode both``, the mode an adapter was not trained on: it runs without the adapter.

    An adapter trained on Chain-of-Edits answers is refused in direct mode (and
    the reverse, `toolthink.env.FormatMismatchError`); asked for both modes, the
    other one is evaluated on the base model instead, as the study's base row
    is (issue 16), and the run's settings say so (``modes_on_base_model``).
    """
    if adapter is None or len(modes) < 2 or not Path(adapter).is_dir():
        return ()
    from toolthink.env import recorded_format  # noqa: PLC0415

    try:
        trained = recorded_format(adapter).value
    except ToolthinkError:
        return ()  # the loader names the problem
    return tuple(m for m in modes if m != trained)


def _say_base_modes(console: Console, modes: Sequence[str], args: argparse.Namespace) -> None:
    for mode in modes:
        console.print(f"{mode}: {args.adapter} was not trained on {mode} answers; that mode "
                      f"runs on the base model {args.model} (adapter off)")


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0915 (one command, read top down)
    """Run ``toolthink eval``; returns the exit status (0 on success, 2 for bad usage).

    Every option, path and the device are checked before the model loads.
    """
    args = make_parser().parse_args(argv)
    own = _own_tasks(args)
    data_dir = _data_dir(args)
    temperature = _check_usage(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    silence_upstream_deprecations()
    try:
        placement = check_device(args)
    except ToolthinkError as e:
        usage_error(_PROG, str(e))
    console = Console(stderr=False)

    import torch  # noqa: PLC0415

    from toolthink.evaluation.datasets import load_eval_tasks  # noqa: PLC0415
    from toolthink.evaluation.eval_progress import eval_progress  # noqa: PLC0415
    from toolthink.evaluation.evaluator import evaluate  # noqa: PLC0415
    from toolthink.evaluation.journal import EvalJournal  # noqa: PLC0415
    from toolthink.evaluation.report import results_table, write_results  # noqa: PLC0415
    from toolthink.models.loader import load_model  # noqa: PLC0415
    from toolthink.tool import SandboxPool  # noqa: PLC0415

    try:
        config = eval_config(args, temperature)
    except ValueError as e:
        usage_error(_PROG, str(e))
    torch.manual_seed(args.seed)
    try:
        with SandboxPool() as pool:
            if own is not None:  # --tasks: buggy code must fail, a reference pass
                check_in_sandbox(own, pool, timeout=config.env.timeout)
                tasks = [o.task for o in own]
            else:
                tasks = load_eval_tasks(args.dataset, data_dir, pool, limit=args.limit,
                                        seed=args.seed)
            if not tasks:
                usage_error(_PROG, f"no tasks in {args.dataset}: check --data-dir and --limit")
            base_modes = _base_model_modes(args.adapter, config.modes)
            with console.status(f"loading model {args.model} ({placement})"):
                model, tokenizer = load_model(
                    args.model, args.adapter, device=args.device, dtype=args.dtype,
                    formats=[m for m in config.modes if m not in base_modes])
            _say_base_modes(console, base_modes, args)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            journal = EvalJournal(Path(args.out) / JOURNAL_FILE,
                                  _journal_key(args, tasks, config, data_dir, placement))
            if any(journal.done(mode) for mode in config.modes):
                console.print(f"resuming from {journal.path}: " + ", ".join(
                    f"{mode} {len(journal.done(mode))} of {len(tasks) * args.samples} played"
                    for mode in config.modes))
            with Progress(*columns, console=console, transient=False) as bar:
                progress, on_turn, beat = eval_progress(bar, console, len(tasks) * args.samples,
                                                        config.modes, args.batch)
                with beat:
                    results = evaluate(model, tokenizer, tasks, sandbox=pool, config=config,
                                       progress=progress, on_turn=on_turn,
                                       adapter_off=base_modes, journal=journal)
    except ToolthinkError as e:  # a bad model, adapter or data file: usage, as in `repair`
        sys.stderr.write(f"{_PROG}: {e}\n")
        return EXIT_USAGE
    title = (f"{args.dataset}: {len(tasks)} tasks x {args.samples} samples, model {args.model}"
             + (f" + {args.adapter}" if args.adapter else ""))
    console.print(results_table(results, config.ks, title=title, max_turns=args.max_turns))
    out = Path(args.out)
    settings = {"model": args.model, "adapter": args.adapter, "dataset": args.dataset,
                "modes_on_base_model": list(base_modes),
                "data_dir": data_dir, "tasks_file": args.tasks, "tasks": len(tasks),
                "samples": config.samples,
                "ks": list(config.ks), "temperature": temperature,
                "max_turns": config.env.max_turns, "max_new_tokens": config.max_new_tokens,
                "direct_max_new_tokens": config.direct_max_new_tokens, "limit": args.limit,
                "seed": args.seed, "device": args.device, "dtype": args.dtype,
                "placement": placement, "argv": list(argv) if argv is not None else sys.argv[1:]}
    write_results(out, results, settings)
    journal.remove()
    console.print(f"wrote {out / 'results.json'} and {out / 'episodes.jsonl'} "
                  f"(replay: toolthink show {out / 'episodes.jsonl'})")
    _figures_and_page(out, results, ks=config.ks, title=title, args=args, console=console)
    return 0


if __name__ == "__main__":  # python -m toolthink.evaluation.cli
    sys.exit(main())
