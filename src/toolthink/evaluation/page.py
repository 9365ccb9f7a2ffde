"""The results page: one self-contained HTML file for a run folder (`toolthink report`).

The page holds a summary table (per dataset and mode: tasks, pass@k, mean
turns, the share of episodes ended by ``EXIT``, tokens, seconds), pass@k per
bug kind, the run's figures (PNG inlined as ``data:`` URIs), what each reward
means, and every episode turn by turn: its initial test report, each command
with its status, reward and the reason for it, the whole diff it made and the
test feedback, and why the episode ended. A list of episodes can be filtered
(repaired or not, mode, bug kind, dataset, task id) by the page's own script.

Nothing is fetched: CSS and JavaScript (``page_assets/``) are inlined, and every
text from the run (task ids, code, commands, feedback) is HTML-escaped. On load
the script appends ``<p id="page-ready">``, which the headless-browser test reads.

Confidence intervals: when a ``pass_at_k`` row of results.json holds
``"pass@K_low"`` and ``"pass@K_high"`` (the 95 % interval that
`toolthink.evaluation.metrics.summarize` writes beside ``"pass@K"``), the page
shows the interval after the value (`interval`); older results have none.
"""

from __future__ import annotations

import base64
import html
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toolthink.evaluation.episode_view import (
    REWARD_RULES,
    End,
    diff_lines,
    end_of,
    end_text,
    reward_text,
    signed,
)
from toolthink.evaluation.run_folder import Evaluation

__all__ = ["interval", "render_page", "write_page"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _asset(name: str) -> str:
    return (importlib.resources.files("toolthink.evaluation") / "page_assets" / name).read_text(
        encoding="utf-8")


def interval(row: Mapping[str, Any], k: int) -> tuple[float, float] | None:
    """The confidence interval of pass@k in a ``pass_at_k`` row, if results.json has one.

    Returns:
        ``(low, high)`` in the units of ``row["pass@K"]``, from ``row["pass@K_low"]``
        and ``row["pass@K_high"]``; None when absent or not numbers.
    """
    value = (row.get(f"pass@{k}_low"), row.get(f"pass@{k}_high"))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return float(value[0]), float(value[1])  # type: ignore[arg-type]
    return None


def _pass_cell(row: Mapping[str, Any], k: int) -> str:
    value = row.get(f"pass@{k}")
    if not isinstance(value, int | float):
        return '<td class="num">-</td>'
    ci = interval(row, k)
    extra = (f' <span class="ci">[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]</span>'
             if ci is not None else "")
    return f'<td class="num">{100 * value:.1f}{extra}</td>'


def _table(head: Iterable[str], rows: Iterable[str]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _max_turns(evaluation: Evaluation) -> int | None:
    value = evaluation.settings.get("max_turns")
    return int(value) if isinstance(value, int) else None


def _exit_share(evaluation: Evaluation, mode: str) -> str:
    episodes = [r for r in evaluation.episodes if r.get("mode") == mode]
    if mode != "chain-of-edits" or not episodes:
        return "-"
    exits = sum(end_of(r, _max_turns(evaluation)) is End.EXIT for r in episodes)
    return f"{exits}/{len(episodes)}"


def _summary(evaluations: Sequence[Evaluation]) -> str:
    ks = sorted({k for ev in evaluations for k in ev.ks})
    head = ["dataset", "mode", "tasks", *(f"pass@{k} (%)" for k in ks), "mean turns",
            "ended by EXIT", "mean generated tokens", "seconds"]
    rows = []
    for ev in evaluations:
        for mode, result in ev.modes.items():
            overall = result.get("pass_at_k", {}).get("all", {})
            number = "{:.2f}".format
            cells = [f"<td>{_e(ev.name)}</td>", f"<td>{_e(mode)}</td>",
                     f'<td class="num">{int(overall.get("tasks", 0))}</td>',
                     *(_pass_cell(overall, k) for k in ks)]
            for key, fmt in (("mean_turns", number), (None, None),
                             ("mean_generated_tokens", "{:.0f}".format),
                             ("seconds", "{:.0f}".format)):
                if key is None:
                    cells.append(f'<td class="num">{_exit_share(ev, mode)}</td>')
                    continue
                value = result.get(key)
                shown = fmt(value) if isinstance(value, int | float) and fmt else "-"
                cells.append(f'<td class="num">{shown}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
    note = ("<p class=\"note\">pass@k in percent (unbiased estimator, Chen et al. 2021); "
            "an interval in brackets where results.json has one. \"ended by EXIT\": "
            "Chain-of-Edits episodes the model closed itself; the others hit the turn "
            "limit or the token budget and count as not repaired.</p>")
    return f'<section id="summary"><h2>Summary</h2>{_table(head, rows)}{note}</section>'


def _by_kind(evaluations: Sequence[Evaluation]) -> str:
    parts = []
    for ev in evaluations:
        kinds = sorted({g for r in ev.modes.values() for g in r.get("pass_at_k", {})} - {"all"})
        if not kinds:
            continue
        head = ["bug kind", "tasks", *(f"{mode} pass@{k} (%)" for mode in ev.modes
                                       for k in ev.ks)]
        rows = []
        for kind in kinds:
            first: Mapping[str, Any] = next((r["pass_at_k"][kind] for r in ev.modes.values()
                          if kind in r.get("pass_at_k", {})), {})
            cells = [f"<td>{_e(kind)}</td>", f'<td class="num">{int(first.get("tasks", 0))}</td>']
            cells += [_pass_cell(r.get("pass_at_k", {}).get(kind, {}), k)
                      for r in ev.modes.values() for k in ev.ks]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        parts.append(f"<h3>{_e(ev.name)}</h3>{_table(head, rows)}")
    if not parts:
        return ('<section id="kinds"><h2>By bug kind</h2><p class="note">No task of this run '
                "records a bug kind.</p></section>")
    return f'<section id="kinds"><h2>By bug kind</h2>{"".join(parts)}</section>'


def _figures(evaluations: Sequence[Evaluation]) -> str:
    images = []
    for ev in evaluations:
        for path in ev.figures:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            images.append(f'<figure><img alt="{_e(ev.name)}: {_e(path.name)}" '
                          f'src="data:image/png;base64,{data}"><figcaption>{_e(ev.name)}: '
                          f"{_e(path.name)}</figcaption></figure>")
    return f'<section id="figures"><h2>Figures</h2>{"".join(images)}</section>' if images else ""


def _rewards() -> str:
    rows = [f'<tr><td class="num">{signed(value)}</td><td>{_e(when)}</td></tr>'
            for value, when in REWARD_RULES]
    return ('<section id="rewards"><h2>Rewards</h2>'
            + _table(["reward", "when (Chain-of-Edits, per turn)"], rows)
            + '<p class="note">A turn can earn several terms (a malformed last command costs '
            "-0.5 twice: -1). A direct answer scores 1 when it passes the tests, else 0. "
            "Rainone et al., arXiv 2507.05065, section 4.2.</p></section>")


def _code(code: str) -> str:
    lines = code.splitlines() or [""]
    width = len(str(len(lines)))
    body = "\n".join(f'<span class="ln">{n:>{width}}</span>{_e(line)}'
                     for n, line in enumerate(lines, 1))
    return f'<pre class="code">{body}</pre>'


def _diff(before: str, after: str) -> str:
    lines = diff_lines(before, after, context=2)
    if not lines:
        return ""
    css = {"@": "hunk", "-": "del", "+": "add"}
    body = "".join(f'<span class="{css.get(line[:1], "ctx")}">{_e(line)}</span>'
                   for line in lines)  # one block per line: no newline between them
    return f'<pre class="diff">{body}</pre>'


def _turn(record: Mapping[str, Any], index: int, before: str) -> tuple[str, str]:
    turn = record["turns"][index]
    after = str(turn.get("code", before))
    status = str(turn.get("status", ""))
    command = str(turn.get("command", ""))
    shown = (f'<pre class="answer">{_e(command)}</pre>' if record.get("mode") == "direct"
             else f'<code class="cmd">{_e(command)}</code>')
    feedback = str(turn.get("feedback", "")).strip()
    item = (f'<li><div class="turn-head">turn {index + 1} {shown} '
            f'<span class="status s-{_e(status)}">{_e(status)}</span> '
            f'<span class="reward">reward {signed(float(turn.get("reward", 0)))}</span></div>'
            f'<div class="why">{_e(reward_text(record, index))}</div>'
            + _diff(before, after)
            + (f'<pre class="feedback">{_e(feedback)}</pre>' if feedback else "")
            + "</li>")
    return item, after


def _episode(ev: Evaluation, record: Mapping[str, Any]) -> str:
    passed = bool(record.get("passed"))
    kind = str(record.get("bug_kind") or "")
    code = str(record.get("initial_code", ""))
    turns = []
    for index in range(len(record.get("turns") or [])):
        item, code = _turn(record, index, code)
        turns.append(item)
    initial = str(record.get("initial_feedback", "")).strip()
    verdict = "repaired" if passed else "not repaired"
    attributes = {"outcome": "passed" if passed else "failed", "mode": record.get("mode", ""),
                  "kind": kind, "dataset": ev.name, "task": record.get("task_id", "")}
    data = " ".join(f'data-{name}="{_e(value)}"' for name, value in attributes.items())
    total = record.get("total_reward")
    facts = [f"dataset {_e(ev.name)}", f"sample {_e(record.get('sample', 0))}"]
    if kind:
        facts.append(f"bug kind {_e(kind)}")
    if isinstance(total, int | float):
        facts.append(f"total reward {signed(total)}")
    if isinstance(record.get("generated_tokens"), int):
        facts.append(f"{record['generated_tokens']} generated tokens")
    return (f'<details class="episode" {data}><summary><span class="verdict '
            f'{"ok" if passed else "ko"}">{verdict}</span> <b>{_e(record.get("task_id", "?"))}'
            f'</b> <span class="mode">{_e(record.get("mode", ""))}</span> '
            f'<span class="end">{_e(end_text(record, _max_turns(ev)))}</span></summary>'
            f'<p class="facts">{" · ".join(facts)}</p>'
            "<h4>Initial test report (the buggy code)</h4>"
            + (f'<pre class="feedback">{_e(initial)}</pre>' if initial
               else '<p class="note">not recorded (a run from before toolthink recorded it)</p>')
            + "<h4>Initial code</h4>" + _code(str(record.get("initial_code", "")))
            + f'<h4>Turns</h4><ol class="turns">{"".join(turns)}</ol>'
            + f'<p class="end-line">Ended: {_e(end_text(record, _max_turns(ev)))}</p>'
            + "</details>")


def _options(name: str, label: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>'
                      for v in sorted(set(values)) if v)
    return (f'<label>{_e(label)} <select id="f-{name}"><option value="">all</option>'
            f"{options}</select></label>")


def _episodes(evaluations: Sequence[Evaluation]) -> str:
    records = [(ev, r) for ev in evaluations for r in ev.episodes]
    filters = (
        '<div class="filters"><label>outcome <select id="f-outcome"><option value="">all'
        '</option><option value="passed">repaired</option><option value="failed">not repaired'
        "</option></select></label>"
        + _options("mode", "mode", (str(r.get("mode", "")) for _, r in records))
        + _options("kind", "bug kind", (str(r.get("bug_kind") or "") for _, r in records))
        + _options("dataset", "dataset", (ev.name for ev, _ in records))
        + '<label>task id <input id="f-task" type="search" placeholder="contains"></label>'
        '<button id="f-open" type="button">open shown</button>'
        '<button id="f-close" type="button">close all</button>'
        f'<span id="f-count">{len(records)} episodes</span></div>')
    body = "".join(_episode(ev, r) for ev, r in records) or '<p class="note">No episodes.</p>'
    return f'<section id="episodes"><h2>Episodes</h2>{filters}{body}</section>'


def _settings(evaluations: Sequence[Evaluation]) -> str:
    lines = []
    for ev in evaluations:
        s = ev.settings
        if not s:
            lines.append(f"<li>{_e(ev.name)}: episodes file {_e(ev.folder)}</li>")
            continue
        model = str(s.get("model", "?")) + (f" + {s['adapter']}" if s.get("adapter") else "")
        base = [str(m) for m in s.get("modes_on_base_model") or []]
        if base:  # `toolthink eval --mode both` with an adapter trained on the other format
            model += f" ({', '.join(base)}: the base model, adapter off)"
        lines.append(f"<li>{_e(ev.name)}: model {_e(model)}, {_e(s.get('tasks', '?'))} tasks x "
                     f"{_e(s.get('samples', '?'))} samples, temperature "
                     f"{_e(s.get('temperature', '?'))}, max turns {_e(s.get('max_turns', '?'))}"
                     f", seed {_e(s.get('seed', '?'))}; folder {_e(ev.folder)}</li>")
    return f'<ul class="settings">{"".join(lines)}</ul>'


def render_page(evaluations: Sequence[Evaluation], *, title: str) -> str:
    """The whole page as one HTML document (str), self-contained.

    Args:
        evaluations: From `toolthink.evaluation.run_folder.read_run` (or one
            `evaluation_of_episodes`).
        title: The page's title (escaped here).
    """
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_asset('page.css')}</style></head><body>"
            f"<header><h1>{_e(title)}</h1>{_settings(evaluations)}<nav><a href=\"#summary\">"
            'summary</a> <a href="#kinds">by bug kind</a> <a href="#figures">figures</a> '
            '<a href="#rewards">rewards</a> <a href="#episodes">episodes</a></nav></header>'
            f"<main>{_summary(evaluations)}{_by_kind(evaluations)}{_figures(evaluations)}"
            f"{_rewards()}{_episodes(evaluations)}</main>"
            f"<script>{_asset('page.js')}</script></body></html>\n")


def write_page(evaluations: Sequence[Evaluation], path: Path, *, title: str) -> Path:
    """Write `render_page` to ``path`` (UTF-8) and return it."""
    path.write_text(render_page(evaluations, title=title), encoding="utf-8")
    return path
