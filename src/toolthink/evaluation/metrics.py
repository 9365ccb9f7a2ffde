"""pass@k, the unbiased estimator of Chen et al. (2021), and its aggregation.

For a task with ``n`` sampled episodes of which ``c`` repaired the code,
``pass@k = 1 - C(n - c, k) / C(n, k)``: the probability that at least one of
``k`` episodes drawn without replacement from the ``n`` succeeds ("Evaluating
Large Language Models Trained on Code", arXiv 2107.03374, section 2.1). It is
computed as a product, which stays exact for large ``n``.

Uncertainty over tasks, 95 %: pass@1 gets the Wilson score interval (Wilson
1927; Brown, Cai and DasGupta 2001 recommend it over the normal approximation
for small counts and rates near 0 or 1), pass@k for k > 1 a percentile
bootstrap over tasks (Efron and Tibshirani 1993), since a task's pass@k is not
a binomial count. `episode_stats` adds the costs: tokens generated per task and
per solved task, turns used, the share of episodes that ended with ``EXIT``,
and the pass rate against a smaller turn budget read off one longer run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Z95", "bootstrap_interval", "episode_stats", "pass_at_k", "pass_by_turn_budget",
           "summarize", "wilson_interval"]

Z95 = 1.959963984540054
"""The standard normal quantile of 0.975: a two-sided 95 % interval."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task.

    Args:
        n: Episodes sampled for the task (n >= k).
        c: Episodes that repaired it (0 <= c <= n).
        k: Budget of attempts.

    Returns:
        The estimate, in [0, 1].

    Raises:
        ValueError: The counts are inconsistent (k > n, c > n, negatives).
    """
    if not 0 <= c <= n or k < 1 or k > n:
        msg = f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}"
        raise ValueError(msg)
    if n - c < k:
        return 1.0
    failure = 1.0
    for i in range(n - c + 1, n + 1):
        failure *= 1.0 - k / i
    return 1.0 - failure


def wilson_interval(successes: float, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion.

    Args:
        successes: Successes among ``n`` (a mean of per-task rates times ``n``
            is accepted: pass@1 over sampled episodes).
        n: Trials (tasks), >= 1.
        z: The normal quantile (default: 95 %, two-sided).

    Returns:
        ``(low, high)`` in [0, 1].

    Raises:
        ValueError: ``n < 1`` or ``successes`` outside [0, n].
    """
    if n < 1 or not 0 <= successes <= n:
        msg = f"wilson_interval needs n >= 1 and 0 <= successes <= n, got {successes}/{n}"
        raise ValueError(msg)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # The interval holds p exactly; rounding may put an end a hair past it (p = 0, 1).
    return min(max(0.0, centre - half), p), max(min(1.0, centre + half), p)


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (resampling tasks).

    Args:
        values: One value per task (e.g. its pass@k); at least one.
        resamples: Bootstrap samples drawn.
        level: Coverage (0.95: the 2.5th and 97.5th percentiles).
        seed: Seed of the resampling, so a report is reproducible.

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        msg = "bootstrap_interval needs at least one value"
        raise ValueError(msg)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low = means[math.floor(tail * (resamples - 1))]
    high = means[math.ceil((1 - tail) * (resamples - 1))]
    return low, high


def summarize(
    outcomes: Mapping[str, Sequence[bool]],
    ks: Iterable[int],
    groups: Mapping[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean pass@k over tasks, overall and per group (e.g. bug kind).

    Args:
        outcomes: Task id -> whether each sampled episode repaired it.
        ks: The budgets to report; a k above a task's sample count is skipped.
        groups: Task id -> group name (tasks without one count only overall).

    Returns:
        ``{"all": {"pass@1": ..., "pass@1_low": ..., "pass@1_high": ..., "tasks": n},
        "<group>": {...}}``; values are fractions in [0, 1] (multiply by 100
        for percent); ``_low``/``_high`` bound the 95 % interval over tasks
        (`wilson_interval` for pass@1, `bootstrap_interval` for k > 1).
    """
    ks = sorted(set(ks))
    buckets: dict[str, list[str]] = {"all": list(outcomes)}
    for task_id, group in (groups or {}).items():
        if task_id in outcomes:
            buckets.setdefault(group, []).append(task_id)
    summary: dict[str, dict[str, float]] = {}
    for name, task_ids in buckets.items():
        row: dict[str, float] = {"tasks": float(len(task_ids))}
        for k in ks:
            values = [pass_at_k(len(outcomes[t]), sum(outcomes[t]), k)
                      for t in task_ids if len(outcomes[t]) >= k]
            if values:
                mean = sum(values) / len(values)
                row[f"pass@{k}"] = mean
                low, high = (wilson_interval(mean * len(values), len(values)) if k == 1
                             else bootstrap_interval(values))
                row[f"pass@{k}_low"], row[f"pass@{k}_high"] = low, high
        summary[name] = row
    return summary


def _first_pass_turn(record: Mapping[str, Any]) -> int | None:
    """The 1-based turn after which the code first passed its tests (None: never)."""
    turn = record.get("first_pass_turn")
    return turn if isinstance(turn, int) else None


def episode_stats(records: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """What attempts cost and how they ended, from `toolthink.evaluation.records` dicts.

    Args:
        records: One record per attempt (``generated_tokens``, ``turns``,
            ``passed``; Chain-of-Edits records also ``exited``).

    Returns:
        ``attempts``; ``tokens_per_task``: mean tokens generated per attempt
        (per task with one sample each); ``tokens_per_solved_task``: all
        tokens generated divided by the attempts that repaired their task, the
        cost of one repair (None when none did); ``mean_turns`` and
        ``mean_turns_solved`` (None when none); ``exit_share``: the share of
        episodes the model ended with ``EXIT`` rather than being cut by the turn
        or token budget (None for direct answers, which have no ``EXIT``);
        ``exit_failing_share``: the share of episodes ended with ``EXIT`` while
        the tests still failed (the model stopped on a wrong program: issue 16
        measures it as a lever; None for direct answers); ``stuck_share``: the
        share of turns after the first that resend the previous turn's command
        although it left the code unchanged (rejected, or an edit that changes
        nothing), so it can only do nothing again: the model does not react to
        the feedback (None for direct answers, or records without ``code``).
    """
    if not records:
        return {"attempts": 0.0, "tokens_per_task": None, "tokens_per_solved_task": None,
                "mean_turns": None, "mean_turns_solved": None, "exit_share": None,
                "exit_failing_share": None, "stuck_share": None}
    tokens = sum(int(r["generated_tokens"]) for r in records)
    solved = [r for r in records if r["passed"]]
    exits = [bool(r["exited"]) for r in records if "exited" in r]
    failing_exits = [bool(r["exited"]) and not r["passed"] for r in records if "exited" in r]
    return {
        "attempts": float(len(records)),
        "tokens_per_task": tokens / len(records),
        "tokens_per_solved_task": tokens / len(solved) if solved else None,
        "mean_turns": sum(len(r["turns"]) for r in records) / len(records),
        "mean_turns_solved": (sum(len(r["turns"]) for r in solved) / len(solved)
                              if solved else None),
        "exit_share": sum(exits) / len(exits) if exits else None,
        "exit_failing_share": sum(failing_exits) / len(failing_exits) if failing_exits else None,
        "stuck_share": _stuck_share(records),
    }


def _stuck_share(records: Sequence[Mapping[str, Any]]) -> float | None:
    """Turns that resend a command which left the code unchanged, over turns after the first."""
    stuck = later = 0
    for record in records:
        turns = record["turns"]
        if "initial_code" not in record or any("code" not in t for t in turns):
            return None
        before = [record["initial_code"], *(t["code"] for t in turns)]
        for i in range(1, len(turns)):
            later += 1
            unchanged = before[i] == before[i - 1]  # turn i-1 left the code as it was
            stuck += unchanged and turns[i].get("command") == turns[i - 1].get("command")
    return stuck / later if later else None


def pass_by_turn_budget(
    records: Sequence[Mapping[str, Any]], max_turns: int
) -> list[dict[str, float]]:
    """The pass rate against the turn budget 1..``max_turns``, from one run of ``max_turns``.

    An episode's first ``b`` turns do not depend on the budget (the prompt does
    not state it), so one long run answers for every shorter budget: at budget
    ``b``, ``tests_pass`` counts the attempts whose code passed its tests after
    some turn ``<= b`` (`first_pass_turn`), ``repaired`` those that also ended
    with ``EXIT`` on passing code by turn ``b`` (``passed`` and at most ``b``
    turns: pass@1 of a run with ``max_turns=b``, exactly so for greedy decoding).

    Args:
        records: Chain-of-Edits records with ``first_pass_turn``, ``passed``, ``turns``.
        max_turns: The run's turn budget.

    Returns:
        One ``{"turns": b, "tests_pass": ..., "repaired": ...}`` per budget,
        fractions of all attempts.
    """
    n = max(len(records), 1)
    curve = []
    first = [_first_pass_turn(r) for r in records]
    for budget in range(1, max_turns + 1):
        tests_pass = sum(t is not None and t <= budget for t in first)
        repaired = sum(bool(r["passed"]) and len(r["turns"]) <= budget for r in records)
        curve.append({"turns": float(budget), "tests_pass": tests_pass / n,
                      "repaired": repaired / n})
    return curve
