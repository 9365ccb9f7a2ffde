"""Where the tests find the benchmark data (../shared/data), and what they do without it.

One lookup for the suite: the ``data_dir`` fixture (tests/conftest.py) and the
editor's tests, which read the programs at collection (tests/tool/data.py),
both use it. The folder is ``$TOOLTHINK_DATA_DIR``, else ``../shared/data``
next to the repository, with the layout of ``../shared/data/README.md``. A test
that needs it and cannot have it skips, saying where it looked and how to point
the suite at the data; with ``TOOLTHINK_REQUIRE_DATA=1`` (CI, .ci/run) it fails
instead, as ``TOOLTHINK_REQUIRE_BWRAP`` and ``TOOLTHINK_REQUIRE_CHROMIUM`` do for
theirs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
FOLDERS = ("humanevalpack", "mbxp_mbpp", "quixbugs")
"""The data folder's subfolders the tests read."""


def data_folder() -> Path:
    """``$TOOLTHINK_DATA_DIR``, else ``../shared/data`` next to the repository."""
    configured = os.environ.get("TOOLTHINK_DATA_DIR")
    return Path(configured) if configured else REPOSITORY.parent / "shared" / "data"


def data_problem(path: Path) -> str | None:
    """Why ``path`` is not the benchmark data folder, with the fix; None when it is."""
    missing = [name for name in FOLDERS if not (path / name).is_dir()]
    if not missing:
        return None
    return (f"benchmark data not found at {path} (no {', '.join(missing)}): set "
            "TOOLTHINK_DATA_DIR to the folder described in ../shared/data/README.md")


def data_unavailable(problem: str) -> NoReturn:
    """Skip the test for ``problem``, or fail it under ``TOOLTHINK_REQUIRE_DATA=1``."""
    if os.environ.get("TOOLTHINK_REQUIRE_DATA") == "1":
        pytest.fail(f"TOOLTHINK_REQUIRE_DATA=1 but {problem}")
    pytest.skip(problem)
