"""The direct-answer baseline: code extraction and scoring."""

from __future__ import annotations

from tests.rollout.support import DeviceProbe
from toolthink.evaluation.direct import run_direct
from toolthink.tasks import Provenance, RepairTask
from toolthink.tool import SandboxPool

TASK = RepairTask("t/add", "Add two numbers.", "def add(a, b):\n    return a - b\n",
                  "assert add(1, 2) == 3\n", "add", "def add(a, b):\n    return a + b\n",
                  Provenance("t", "add", "MIT", ""))


def test_run_direct_scores_noise_as_failed(
    tiny_model, tokenizer, sandbox_pool: SandboxPool
) -> None:
    answers = run_direct(tiny_model, tokenizer, [TASK, TASK], sandbox=sandbox_pool,
                         max_new_tokens=8)
    assert len(answers) == 2
    assert not any(a.passed for a in answers)
    assert all(1 <= a.generated_tokens <= 8 for a in answers)


def test_direct_inputs_go_to_the_model_device(
    tiny_model, tokenizer, sandbox_pool: SandboxPool
) -> None:
    probe = DeviceProbe(tiny_model)  # reports the meta device: inputs left on the CPU fail
    (answer,) = run_direct(probe, tokenizer, [TASK], sandbox=sandbox_pool, max_new_tokens=4)
    assert probe.calls == 1
    assert 1 <= answer.generated_tokens <= 4


class ScriptedSampler:
    """A `TurnSampler` that answers every row with ``ids`` and records what it was asked."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.grammars: list[object] = []

    def keep_going(self, live: int) -> bool:
        return live > 0

    def sample(self, rows, grammars, config):  # type: ignore[no-untyped-def]
        self.grammars += list(grammars)
        return [(list(self.ids), [0.0] * len(self.ids), True) for _ in rows]


def test_run_direct_writes_through_the_sampler_seam(
    tiny_model, tokenizer, sandbox_pool: SandboxPool
) -> None:
    fixed = "```python\ndef add(a, b):\n    return a + b\n```"
    ids = [*tokenizer.encode(fixed, add_special_tokens=False), tokenizer.eos_token_id]
    sampler = ScriptedSampler(ids)
    (answer,) = run_direct(tiny_model, tokenizer, [TASK], sandbox=sandbox_pool,
                           sampler=sampler)
    assert sampler.grammars == [None]  # free text: no grammar
    assert answer.passed
    assert answer.text == fixed
    assert answer.generated_tokens == len(ids)
