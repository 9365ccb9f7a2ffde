"""The results page in a real headless browser (Debian's chromium): it loads, its script runs
without errors, the summary is in the DOM, the address filters work, a screenshot is drawn.

CI installs chromium and sets ``TOOLTHINK_REQUIRE_CHROMIUM=1`` (.ci/run): there a missing
browser fails the test; elsewhere it skips, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from toolthink.evaluation.page_cli import main

# Headless, offline, no profile left behind: nothing but the file is loaded.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--hide-scrollbars", "--enable-logging=stderr", "--v=0")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("TOOLTHINK_REQUIRE_CHROMIUM") == "1":
            pytest.fail("TOOLTHINK_REQUIRE_CHROMIUM=1 but no chromium on PATH: "
                        "apt-get install chromium")
        pytest.skip("no chromium on PATH (apt-get install chromium; CI requires it)")
    return found


def _browse(chromium: str, tmp_path: Path, url: str, *extra: str) -> tuple[str, str]:
    """(stdout, stderr) of one headless chromium run on ``url``."""
    run = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra,
                          url], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, run.stderr


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "Uncaught" in line or ("CONSOLE" in line and "ERROR" in line)]


@pytest.fixture(scope="module")
def page(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert main([str(run_dir), "--out", str(out)]) == 0
    return out


def test_the_page_loads_without_errors_and_shows_the_summary(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    dom, stderr = _browse(chromium, tmp_path, page.as_uri(), "--dump-dom")
    assert _console_errors(stderr) == []
    assert 'id="page-ready"' in dom  # the script ran to its end
    assert "ready: 12 episodes" in dom
    assert "12 of 12 episodes shown" in dom
    summary = dom[dom.index('<section id="summary">'):dom.index('<section id="kinds">')]
    assert "<td>chain-of-edits</td>" in summary
    assert "<td>direct</td>" in summary
    assert not re.search(r"<img[^>]*onerror", dom)  # the hostile task id stayed text


def test_filters_from_the_address_hide_the_other_episodes(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    dom, stderr = _browse(chromium, tmp_path, page.as_uri() + "#outcome=failed&mode=direct",
                          "--dump-dom")
    assert _console_errors(stderr) == []
    assert "3 of 12 episodes shown" in dom
    shown = re.findall(r'<details class="episode" ([^>]*)>', dom)
    visible = [a for a in shown if " hidden" not in a]
    assert len(visible) == 3
    assert all('data-outcome="failed"' in a and 'data-mode="direct"' in a for a in visible)


def test_a_screenshot_is_drawn(chromium: str, page: Path, tmp_path: Path) -> None:
    import matplotlib.image  # noqa: PLC0415

    shot = tmp_path / "page.png"
    _, stderr = _browse(chromium, tmp_path, page.as_uri(), f"--screenshot={shot}",
                        "--window-size=1280,1600")
    assert _console_errors(stderr) == []
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels.std() > 0.05  # not a blank page
