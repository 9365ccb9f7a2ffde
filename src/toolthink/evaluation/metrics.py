"""pass@k, the unbiased estimator of Chen et al. (2021), and its aggregation.

For a task with ``n`` sampled episodes of which ``c`` repaired the code,
``pass@k = 1 - C(n - c, k) / C(n, k)``: the probability that at least one of
``k`` episodes drawn without replacement from the ``n`` succeeds ("Evaluating
Large Language Models Trained on Code", arXiv 2107.03374, section 2.1). It is
computed as a product, which stays exact for large ``n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["pass_at_k", "summarize"]


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
        ``{"all": {"pass@1": ..., "tasks": n}, "<group>": {...}}``; values are
        fractions in [0, 1] (multiply by 100 for percent).
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
                row[f"pass@{k}"] = sum(values) / len(values)
        summary[name] = row
    return summary
