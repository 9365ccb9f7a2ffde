"""toolthink report: one self-contained, escaped results page from a run folder."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.evaluation.conftest import HOSTILE_ID, LONG_LINE
from toolthink.evaluation.page_cli import main


def _page(run_dir: Path, tmp_path: Path, *argv: str) -> str:
    out = tmp_path / "page.html"
    assert main([str(run_dir), "--out", str(out), *argv]) == 0
    return out.read_text(encoding="utf-8")


def test_the_page_has_summary_kinds_figures_rewards_and_every_episode(
    run_dir: Path, tmp_path: Path
) -> None:
    page = _page(run_dir, tmp_path)
    summary = page[page.index('<section id="summary">'):page.index('<section id="kinds">')]
    assert re.search(r"<td>mine</td><td>chain-of-edits</td><td class=\"num\">3</td>"
                     r"<td class=\"num\">50.0 <span class=\"ci\">\[[0-9.]+, [0-9.]+\]</span></td>"
                     r"<td class=\"num\">100.0 <span class=\"ci\">\[[0-9.]+, [0-9.]+\]</span></td>",
                     summary)  # pass@1, pass@2 with their 95 % intervals
    assert '<td class="num">5/6</td>' in summary  # episodes ended by EXIT
    kinds = page[page.index('<section id="kinds">'):page.index('<section id="figures">')]
    assert "<td>off-by-one</td>" in kinds
    assert "<td>wrong value</td>" in kinds
    assert page.count('src="data:image/png;base64,') == 2
    assert "-0.5: malformed command (does not parse)" in page
    assert "-0.5: rejected command (cannot be applied)" in page
    assert "-0.5: episode ended without EXIT; +1: the tests pass for the first time" in page
    assert page.count('<details class="episode"') == 12
    assert ("turn limit (3 commands) reached without EXIT: the tests pass, but an episode "
            "without EXIT does not count as repaired; 1 of 3 commands malformed") in page
    assert "EXIT after 1 command: the tests still fail" in page
    assert "line 1 of the tests: assert clamp(5, 0, 3) == 3" in page  # initial failures
    assert '<span class="del">-        return x</span>' in page
    assert '<span class="add">+        return hi</span>' in page


def test_the_page_needs_no_network_and_escapes_the_runs_text(
    run_dir: Path, tmp_path: Path
) -> None:
    page = _page(run_dir, tmp_path)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "@import" not in page
    assert page.count("<script>") == 1
    assert page.count("</script>") == 1  # the code's "</script>" is escaped
    assert HOSTILE_ID not in page
    assert html.escape(HOSTILE_ID) in page
    assert html.escape(LONG_LINE) in page  # the whole line: wrapped by CSS, never cut


def test_a_confidence_interval_in_results_json_is_shown(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    results = json.loads((copy / "results.json").read_text())
    for mode in results["modes"].values():  # only the row below has an interval
        for row in mode["pass_at_k"].values():
            for key in [k for k in row if k.endswith(("_low", "_high"))]:
                del row[key]
    row = results["modes"]["chain-of-edits"]["pass_at_k"]["all"]
    row["pass@1_low"], row["pass@1_high"] = 0.125, 0.875  # as metrics.summarize writes them
    (copy / "results.json").write_text(json.dumps(results))
    page = _page(copy, tmp_path)
    assert '50.0 <span class="ci">[12.5, 87.5]</span>' in page
    assert page.count('class="ci"') == 1


def test_a_demo_folder_puts_each_dataset_on_one_page(run_dir: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(run_dir, demo / "eval-mine")
    shutil.copytree(run_dir, demo / "eval-other")
    results = json.loads((demo / "eval-other" / "results.json").read_text())
    results["settings"]["dataset"] = "other"
    (demo / "eval-other" / "results.json").write_text(json.dumps(results))
    assert main([str(demo)]) == 0
    page = (demo / "report.html").read_text()
    assert "<td>mine</td><td>chain-of-edits</td>" in page
    assert "<td>other</td><td>direct</td>" in page
    assert page.count('<details class="episode"') == 24


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: tmp / "missing", r"missing is not a folder: pass the --out folder"),
    (lambda tmp: tmp, r"holds no results.json \(nor \*/results.json\)"),
])
def test_a_folder_without_results_exits_2(
    make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([str(make(tmp_path))])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_a_broken_episodes_file_names_its_line(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    with (copy / "episodes.jsonl").open("a") as f:
        f.write('{"task_id": "x"}\n')
    with pytest.raises(SystemExit) as info:
        main([str(copy)])
    assert info.value.code == 2
    assert re.search(r"episodes.jsonl:13 lacks the fields \['mode', ", capsys.readouterr().err)


def test_an_episode_with_a_field_of_the_wrong_type_names_its_line(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    lines = (copy / "episodes.jsonl").read_text().splitlines()
    episode = json.loads(lines[1])
    episode["turns"] = "none"
    lines[1] = json.dumps(episode)
    (copy / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit):
        main([str(copy)])
    assert re.search(r"episodes.jsonl:2 is not a valid episode: field 'turns' is a JSON string",
                     capsys.readouterr().err)


def test_the_page_says_which_mode_ran_on_the_base_model(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    results = json.loads((copy / "results.json").read_text())
    results["settings"]["modes_on_base_model"] = ["direct"]
    (copy / "results.json").write_text(json.dumps(results))
    assert "(direct: the base model, adapter off)" in _page(copy, tmp_path)
