"""The repair environment: one object for SFT data, RL rollouts and evaluation.

`RepairEnv` wraps the editor, the interpreter and the sandbox behind a gym-like
``reset(task)`` / ``step(text)`` interface; `prompt` holds the versioned prompt
template that SFT, RL and evaluation all render the same way.
"""

from toolthink.env.environment import EnvConfig, Observation, RepairEnv, StepInfo, step_all
from toolthink.env.prompt import (
    PROMPT_VERSION,
    SYSTEM_PROMPT,
    PromptVersionError,
    check_prompt_version,
    task_message,
)

__all__ = [
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "EnvConfig",
    "Observation",
    "PromptVersionError",
    "RepairEnv",
    "StepInfo",
    "check_prompt_version",
    "step_all",
    "task_message",
]
