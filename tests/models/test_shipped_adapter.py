"""The shipped adapter reproduces, task for task, the outcomes recorded when it was shipped.

scripts/ship_adapter.py wrote ``reproduce.json`` beside the weights: held-out
task ids with the outcome of those weights run greedily in float32 (equal, for
each task kept, to the evaluation the model card cites). This test replays them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolthink.data.heldout import heldout_tasks
from toolthink.env import EnvConfig
from toolthink.evaluation.evaluator import EvalConfig, evaluate
from toolthink.models.loader import load_model
from toolthink.models.shipped import shipped_adapter
from toolthink.tool import SandboxPool

SHIPPED = shipped_adapter("embedded")


@pytest.mark.slow
@pytest.mark.skipif(SHIPPED is None, reason="no adapter shipped in this checkout")
def test_the_shipped_adapter_repairs_what_its_card_says(
    data_dir: Path, sandbox_pool: SandboxPool, embedded_cache: Path
) -> None:
    assert SHIPPED is not None
    recorded = json.loads((SHIPPED / "reproduce.json").read_text())
    settings, expected = recorded["settings"], recorded["tasks"]
    assert any(expected.values()), "reproduce.json must hold at least one repaired task"
    tasks = heldout_tasks(data_dir, sandbox_pool, ids=set(expected))
    assert sorted(t.task_id for t in tasks) == sorted(expected)
    model, tokenizer = load_model("embedded", str(SHIPPED), device="cpu", dtype="float32",
                                  cache_dir=embedded_cache)
    config = EvalConfig(modes=("chain-of-edits",), max_new_tokens=settings["max_new_tokens"],
                        batch=len(tasks), env=EnvConfig(max_turns=settings["max_turns"]))
    (result,) = evaluate(model, tokenizer, tasks, sandbox=sandbox_pool, config=config)
    assert {r["task_id"]: r["passed"] for r in result.records} == expected
