"""The report of ``toolthink study``: one table and four figures over its evaluations.

Each evaluation folder (``toolthink eval --out``: ``results.json`` and
``episodes.jsonl``) gives one row per mode: pass@1 with its 95 % Wilson
interval over tasks (`toolthink.evaluation.metrics`), pass@k with its bootstrap
interval when sampled, tokens generated per task and per solved task, turns, and
the share of episodes that ended with ``EXIT``. Figures (PNG, in ``figures/``):

- ``pass1_by_model.png``: pass@1 per model and dataset, with the intervals;
- ``pass1_by_kind.png``: pass@1 per bug kind on the held-out set (a table
  also gives it per number of edits, from ``episodes.jsonl``);
- ``turn_budget.png``: the pass rate against the turn budget 1..N, read off one
  N-turn run (`toolthink.evaluation.metrics.pass_by_turn_budget`);
- ``tokens_per_solved.png``: tokens generated per solved task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from toolthink.evaluation.journal import JOURNAL_FILE, read_journal
from toolthink.evaluation.metrics import episode_stats, summarize

__all__ = ["EvalRun", "Row", "edits_table", "kinds_table", "main_table", "read_rows",
           "write_study_report"]


@attrs.frozen
class EvalRun:
    """One evaluation of the study: which model, on which dataset, in which folder.

    Attributes:
        model: The model's name in the report (``base``, ``coe-sft``, ...).
        dataset: The evaluation set's name.
        folder: The ``toolthink eval --out`` folder.
    """

    model: str
    dataset: str
    folder: Path = attrs.field(converter=Path)


@attrs.frozen
class Row:
    """One model in one mode on one dataset.

    Attributes:
        model: With the mode when it differs from the trained one, e.g. ``base / direct``.
        mode: ``chain-of-edits`` or ``direct``.
        dataset: The evaluation set.
        results: That mode's entry of ``results.json`` (``pass_at_k``, ``stats``,
            ``turn_budget``).
        tasks: Tasks evaluated.
        folder: The evaluation folder (its ``episodes.jsonl``).
    """

    model: str
    mode: str
    dataset: str
    results: dict[str, Any]
    tasks: int
    folder: Path

    def pass_at(self, k: int, group: str = "all") -> tuple[float, float, float] | None:
        """(pass@k, low, high) of a group, fractions; None when not measured."""
        row = self.results.get("pass_at_k", {}).get(group, {})
        if f"pass@{k}" not in row:
            return None
        return row[f"pass@{k}"], row[f"pass@{k}_low"], row[f"pass@{k}_high"]

    @property
    def stats(self) -> dict[str, Any]:
        """`toolthink.evaluation.metrics.episode_stats` of the mode."""
        return dict(self.results.get("stats", {}))


_SHORT = {"chain-of-edits": "CoE", "direct": "direct"}


def _partial_rows(run: EvalRun) -> list[Row]:
    """Rows of an evaluation still under way, from its journal (`toolthink.evaluation.journal`).

    The label says how many of the tasks were played, e.g. ``coe-sft (partial:
    160/472)``: the tasks played first (file order), not a random sample.
    """
    journal = run.folder / JOURNAL_FILE
    if not journal.is_file():
        return []
    key, by_mode = read_journal(journal)
    total = len(key.get("task_ids", []))
    rows = []
    for mode, records in by_mode.items():
        outcomes: dict[str, list[bool]] = {}
        for record in records:
            outcomes.setdefault(record["task_id"], []).append(bool(record["passed"]))
        groups = {r["task_id"]: r["bug_kind"] for r in records if r.get("bug_kind")}
        entry = {"pass_at_k": summarize(outcomes, [1], groups), "stats": episode_stats(records)}
        label = (run.model if len(by_mode) == 1 else f"{run.model} / {_SHORT[mode]}")
        rows.append(Row(f"{label} (partial: {len(outcomes)}/{total})", mode, run.dataset, entry,
                        len(outcomes), run.folder))
    return rows


def read_rows(runs: Sequence[EvalRun]) -> list[Row]:
    """The rows of every run that played any attempt.

    Finished runs are read from ``results.json``, runs under way from their
    journal (labelled partial), and runs not started are left out.
    """
    rows = []
    for run in runs:
        path = run.folder / "results.json"
        if not path.is_file():
            rows += _partial_rows(run)
            continue
        results = json.loads(path.read_text(encoding="utf-8"))
        modes = results["modes"]
        for mode, entry in modes.items():
            label = run.model if len(modes) == 1 else f"{run.model} / {_SHORT[mode]}"
            rows.append(Row(label, mode, run.dataset, entry,
                            int(results["settings"].get("tasks", 0)), run.folder))
    return rows


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _interval(row: Row, k: int, group: str = "all") -> str:
    measured = row.pass_at(k, group)
    if measured is None:
        return "-"
    value, low, high = measured
    return f"{_pct(value)} [{_pct(low)}, {_pct(high)}]"


def _number(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def main_table(rows: Sequence[Row], ks: Sequence[int]) -> str:
    """The Markdown table: one line per model, mode and dataset."""
    head = ["model", "dataset", "tasks", *[f"pass@{k} % [95 % CI]" for k in ks],
            "tokens / task", "tokens / solved task", "turns", "EXIT %", "EXIT failing %",
            "stuck %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        stats = row.stats
        cells = [row.model, row.dataset, str(row.tasks), *[_interval(row, k) for k in ks],
                 _number(stats.get("tokens_per_task")),
                 _number(stats.get("tokens_per_solved_task")),
                 _number(stats.get("mean_turns"), "{:.2f}"), _pct(stats.get("exit_share"), 0),
                 _pct(stats.get("exit_failing_share"), 0), _pct(stats.get("stuck_share"), 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def kinds_table(rows: Sequence[Row], dataset: str) -> str:
    """pass@1 [CI] per bug kind on ``dataset`` (one column per model), Markdown."""
    chosen = [r for r in rows if r.dataset == dataset]
    kinds = sorted({g for r in chosen for g in r.results.get("pass_at_k", {})} - {"all"})
    if not chosen or not kinds:
        return "(no bug kinds recorded)"
    lines = ["| bug kind | tasks | " + " | ".join(r.model for r in chosen) + " |",
             "|" + "---|" * (len(chosen) + 2)]
    for kind in kinds:
        tasks = next(int(r.results["pass_at_k"][kind]["tasks"]) for r in chosen
                     if kind in r.results["pass_at_k"])
        lines.append(f"| {kind} | {tasks} | "
                     + " | ".join(_interval(r, 1, kind) for r in chosen) + " |")
    return "\n".join(lines)


def _by_edits(row: Row) -> dict[str, dict[str, float]]:
    """pass@1 with intervals per number of edits, from the row's ``episodes.jsonl``."""
    path = row.folder / "episodes.jsonl"
    if not path.is_file():
        return {}
    outcomes: dict[str, list[bool]] = {}
    groups: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else None
        if record is None or record.get("mode") != row.mode:
            continue
        outcomes.setdefault(record["task_id"], []).append(bool(record["passed"]))
        if record.get("n_edits"):
            groups[record["task_id"]] = f"{record['n_edits']} edit(s)"
    summary = summarize(outcomes, [1], groups)
    summary.pop("all", None)
    return summary


def edits_table(rows: Sequence[Row], dataset: str) -> str:
    """pass@1 [CI] per number of edits on ``dataset`` (one column per model), Markdown."""
    chosen = [r for r in rows if r.dataset == dataset]
    by_row = [_by_edits(r) for r in chosen]
    groups = sorted({g for summary in by_row for g in summary})
    if not groups:
        return "(no numbers of edits recorded)"
    lines = ["| edits | tasks | " + " | ".join(r.model for r in chosen) + " |",
             "|" + "---|" * (len(chosen) + 2)]
    for group in groups:
        tasks = next(int(s[group]["tasks"]) for s in by_row if group in s)
        cells = []
        for summary in by_row:
            row = summary.get(group)
            cells.append("-" if row is None else f"{_pct(row['pass@1'])} "
                         f"[{_pct(row['pass@1_low'])}, {_pct(row['pass@1_high'])}]")
        lines.append(f"| {group.split()[0]} | {tasks} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib as mpl  # noqa: PLC0415 - only figures need it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _bars(groups: Sequence[str], series: Sequence[tuple[str, list[tuple[float, float, float]]]],
          path: Path, *, ylabel: str, title: str) -> Path:
    """Grouped bars (percent) with interval whiskers; each bar labelled with its value."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(groups) * max(len(series), 1) / 2), 3.8))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(groups))]
        heights = [100 * v for v, _, _ in values]
        errors = [[max(0.0, 100 * (v - lo)) for v, lo, _ in values],  # float rounding: >= 0
                  [max(0.0, 100 * (hi - v)) for v, _, hi in values]]
        bars = ax.bar(xs, heights, width, yerr=errors, capsize=3, label=name)
        ax.bar_label(bars, labels=[f"{h:.1f}" for h in heights], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pass1_series(rows: Sequence[Row], groups: Sequence[str], *, by_kind: bool,
                  dataset: str | None = None) -> list[tuple[str, list[tuple[float, float, float]]]]:
    models = list(dict.fromkeys(r.model for r in rows))
    series = []
    for model in models:
        values = []
        for group in groups:
            row = next((r for r in rows if r.model == model
                        and r.dataset == (dataset if by_kind else group)), None)
            measured = None if row is None else row.pass_at(1, group if by_kind else "all")
            values.append(measured or (0.0, 0.0, 0.0))
        series.append((model, values))
    return series


def turn_budget_figure(rows: Sequence[Row], dataset: str, path: Path) -> Path | None:
    """Pass rate against the turn budget for each Chain-of-Edits row on ``dataset``."""
    chosen = [r for r in rows if r.dataset == dataset and r.results.get("turn_budget")]
    if not chosen:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for row in chosen:
        curve = row.results["turn_budget"]
        turns = [int(p["turns"]) for p in curve]
        line = ax.plot(turns, [100 * p["repaired"] for p in curve], "-o", markersize=3,
                       label=f"{row.model}: repaired (EXIT)")
        ax.plot(turns, [100 * p["tests_pass"] for p in curve], "--", color=line[0].get_color(),
                label=f"{row.model}: tests pass")
    ax.set_xticks(turns)
    ax.set_xlabel("turn budget (commands)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("pass rate (%)")
    ax.set_title(f"{dataset}: pass rate against the turn budget, from one run", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def tokens_figure(rows: Sequence[Row], dataset: str, path: Path) -> Path | None:
    """Tokens generated per solved task on ``dataset`` (a model that solved none: no bar)."""
    chosen = [r for r in rows if r.dataset == dataset]
    if not chosen:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = [r.stats.get("tokens_per_solved_task") for r in chosen]
    bars = ax.bar(range(len(chosen)), [v or 0.0 for v in values])
    ax.bar_label(bars, labels=["none solved" if v is None else f"{v:.0f}" for v in values],
                 fontsize=7, padding=2)
    ax.set_xticks(range(len(chosen)), [r.model for r in chosen], rotation=20, ha="right",
                  fontsize=8)
    ax.set_ylabel("tokens generated per solved task")
    ax.set_title(f"{dataset}: generation cost of one repair", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_study_report(
    out: Path, runs: Sequence[EvalRun], *, heldout: str, command: str,
    settings: dict[str, Any],
) -> Path:
    """Write ``report.md`` and ``figures/*.png`` into ``out``; returns the report's path.

    Args:
        out: The study's folder.
        runs: Its evaluations (unfinished ones are left out of the tables and
            listed under them as not evaluated).
        heldout: The dataset name of the held-out synthetic set (bug kinds,
            turn budget and tokens figures are drawn on it).
        command: The command line that ran the study.
        settings: What the report states about the run (budget, seed, data).
    """
    rows = read_rows(runs)
    missing = [f"{run.model} on {run.dataset}" for run in runs
               if not (run.folder / "results.json").is_file()
               and not (run.folder / JOURNAL_FILE).is_file()]
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    ks = sorted({int(key.removeprefix("pass@")) for r in rows
                 for key in r.results.get("pass_at_k", {}).get("all", {})
                 if key.startswith("pass@") and key.removeprefix("pass@").isdigit()}) or [1]
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    drawn = []
    if rows:
        drawn.append(_bars(datasets, _pass1_series(rows, datasets, by_kind=False),
                           figures / "pass1_by_model.png", ylabel="pass@1 (%)",
                           title="pass@1 by model and dataset (95 % Wilson intervals)"))
        kinds = sorted({g for r in rows if r.dataset == heldout
                        for g in r.results.get("pass_at_k", {})} - {"all"})
        if kinds:
            held = [r for r in rows if r.dataset == heldout]
            drawn.append(_bars(kinds, _pass1_series(held, kinds, by_kind=True, dataset=heldout),
                               figures / "pass1_by_kind.png", ylabel="pass@1 (%)",
                               title=f"{heldout}: pass@1 by bug kind"))
        for figure in (turn_budget_figure(rows, heldout, figures / "turn_budget.png"),
                       tokens_figure(rows, heldout, figures / "tokens_per_solved.png")):
            if figure is not None:
                drawn.append(figure)
    lines = [
        "# toolthink study: Chain-of-Edits against a trained direct-answer baseline", "",
        f"Command: `{command}`", "",
        *[f"- {key}: {value}" for key, value in settings.items()], "",
        "## Results", "",
        "pass@1 is greedy; its 95 % interval is Wilson's over tasks, pass@k for k > 1 a "
        "percentile bootstrap over tasks. tokens / task: generated tokens per attempt; "
        "tokens / solved task: all generated tokens divided by the attempts that repaired "
        "their task (the cost of one repair). EXIT %: episodes the model ended with EXIT "
        "rather than being cut by the turn or token budget; EXIT failing %: episodes the "
        "model ended with EXIT while the tests still failed; stuck %: turns that resend "
        "the previous command although it left the code unchanged (rejected or a no-op), "
        "so they can only do nothing again.", "",
        main_table(rows, ks) if rows else "(no evaluation finished)", "",
        *([f"Not evaluated (the study stopped before): {', '.join(missing)}.", ""]
          if missing else []),
        f"## By bug kind ({heldout})", "",
        "A bug made by several edits of different kinds is `mixed`.", "",
        kinds_table(rows, heldout), "",
        f"## By number of edits ({heldout})", "", edits_table(rows, heldout), "",
        "## Pass rate against the turn budget", "",
        "Computed from one run at the largest budget: a Chain-of-Edits episode's first b "
        "turns do not depend on the budget (the prompt does not state it), so the run "
        "answers for every b. *repaired* counts episodes that ended with EXIT on passing "
        "code within b turns (pass@1 of a run with that budget, exactly for greedy "
        "decoding); *tests pass* counts those whose code passed its tests after some turn "
        "<= b, whether or not the model then sent EXIT.", "",
        "## Figures", "",
        *[f"![{p.stem}](figures/{p.name})" for p in drawn], "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
