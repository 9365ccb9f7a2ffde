"""toolthink: repair Python code with small language models that drive an editor.

Instead of thinking in prose, the model sends one Chain-of-Edits command per turn
(``ADDL``, ``REPL``, ``REPW``, ``DELL``, ``EXIT``) to a stateful code editor and
reads back the numbered code and the test results (Rainone, Bakker and Memisevic,
"Replacing thinking with tool usage enables reasoning in small language models",
arXiv 2507.05065, 2025).

Layers, lowest first: `toolthink.dsl` (the language), `toolthink.tool` (editor,
rendering, sandbox) and `toolthink.training` (data, environment, SFT, RL, eval).
"""

from __future__ import annotations

from toolthink.errors import ToolthinkError

__all__ = ["ToolthinkError", "__version__"]

__version__ = "0.1.0"
