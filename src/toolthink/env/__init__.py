"""The repair environment: one object for SFT data, RL rollouts and evaluation.

`RepairEnv` wraps the editor, the interpreter and the sandbox behind a gym-like
``reset(task)`` / ``step(text)`` interface; `prompt` holds the versioned prompt
template that SFT, RL and evaluation all render the same way; `direct` the
prompt of the direct-answer baseline.
"""

from toolthink.env.environment import (
    EnvConfig,
    Observation,
    RepairEnv,
    StepInfo,
    StepStatus,
    step_all,
)
from toolthink.env.prompt import (
    PROMPT_VERSION,
    PROMPT_VERSIONS,
    SYSTEM_PROMPT,
    FormatMismatchError,
    PromptVersionError,
    TrainingFormat,
    check_prompt_version,
    recorded_format,
    task_message,
)

__all__ = [
    "PROMPT_VERSION",
    "PROMPT_VERSIONS",
    "SYSTEM_PROMPT",
    "EnvConfig",
    "FormatMismatchError",
    "Observation",
    "PromptVersionError",
    "RepairEnv",
    "StepInfo",
    "StepStatus",
    "TrainingFormat",
    "check_prompt_version",
    "recorded_format",
    "step_all",
    "task_message",
]
