"""The direct-answer baseline: the model rewrites the whole program in one turn.

The paper compares Chain-of-Edits with a model that answers with the fixed
code directly (Rainone et al., arXiv 2507.05065, section 5). Here the model
sees the same problem, tests and buggy code (without line numbers), writes
freely (no grammar: the turn sampler is given None, `toolthink.rollout.samplers`,
so every inference backend serves this mode too), and the first fenced code
block of its answer, or the whole answer when it has none, is run against the
tests in the sandbox. The prompt and the answer parsing are
`toolthink.env.direct`'s, which direct SFT demonstrations are rendered with too.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from toolthink.env.direct import (
    DIRECT_PROMPT_VERSION,
    DIRECT_SYSTEM_PROMPT,
    direct_message,
    extract_code,
)
from toolthink.rollout.samplers import GenerateSampler, RolloutConfig, TurnSampler
from toolthink.tasks import RepairTask
from toolthink.tool import SandboxPool

__all__ = ["DIRECT_PROMPT_VERSION", "DirectAnswer", "run_direct"]


@attrs.frozen
class DirectAnswer:
    """One direct-answer attempt.

    Attributes:
        task_id: The task's id.
        text: The model's answer.
        code: The code extracted from it (`extract_code`).
        passed: Whether that code passes the tests.
        feedback: The sandbox's test feedback.
        generated_tokens: Tokens the model generated (EOS included).
    """

    task_id: str
    text: str
    code: str
    passed: bool
    feedback: str
    generated_tokens: int


def run_direct(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: Sequence[RepairTask],
    *,
    sandbox: SandboxPool,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    timeout: float = 5.0,
    sampler: TurnSampler | None = None,
) -> list[DirectAnswer]:
    """Answer each task once (repeat a task for several samples), batched.

    Args:
        model: A causal LM (or peft model).
        tokenizer: Its tokenizer, with a chat template.
        tasks: One attempt per entry.
        sandbox: Runs the extracted code against the tests.
        max_new_tokens: Longest answer, tokens.
        temperature: Sampling temperature; 0 is greedy.
        timeout: Seconds per test run.
        sampler: Writes the answers, each a free-text turn (grammar None);
            default: `GenerateSampler` on ``model``.

    Returns:
        One `DirectAnswer` per task, in order.
    """
    if not tasks:
        return []
    prompts = []
    for task in tasks:
        messages = [{"role": "system", "content": DIRECT_SYSTEM_PROMPT},
                    {"role": "user",
                     "content": direct_message(task.problem, task.tests, task.buggy_code)}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompts.append(list(tokenizer.encode(str(text), add_special_tokens=False)))
    sampler = sampler or GenerateSampler.for_model(model, tokenizer)
    config = RolloutConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    turns = sampler.sample(prompts, [None] * len(prompts), config)
    answers = [(str(tokenizer.decode(ids, skip_special_tokens=True)), len(ids))
               for ids, _, _ in turns]
    codes = [extract_code(text) for text, _ in answers]
    reports = sandbox.run_batch([(code, t.tests) for code, t in zip(codes, tasks, strict=True)],
                                timeout=timeout)
    return [
        DirectAnswer(task.task_id, text, code, report.passed, report.feedback, tokens)
        for task, (text, tokens), code, report in zip(tasks, answers, codes, reports, strict=True)
    ]
