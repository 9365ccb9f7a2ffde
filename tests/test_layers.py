"""The language and the tool import without the ML stack (STYLE.md layers)."""

from __future__ import annotations

import subprocess
import sys

BLOCK = (
    "import sys\n"
    "for name in ('torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets',"
    " 'llguidance'):\n"
    "    sys.modules[name] = None  # makes `import name` raise ImportError\n"
)


def test_dsl_and_tool_import_with_torch_unimportable() -> None:
    code = BLOCK + "import toolthink.dsl, toolthink.tool\nprint('ok')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_block_really_blocks() -> None:
    code = BLOCK + "import torch\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr
