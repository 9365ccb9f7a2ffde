"""toolthink show replays an episode file readably."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from toolthink.evaluation.show import main

EPISODE = {
    "task_id": "toolthink/add", "mode": "chain-of-edits", "sample": 0, "passed": True,
    "initial_code": "def add(a, b):\n    return a - b\n",
    "turns": [
        {"command": "REPW 2 >>>- >>>+", "status": "applied", "reward": 1.0,
         "code": "def add(a, b):\n    return a + b\n", "feedback": "All tests passed."},
        {"command": "EXIT", "status": "exit", "reward": 0.0,
         "code": "def add(a, b):\n    return a + b\n", "feedback": ""},
    ],
}


def test_shows_command_diff_and_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n")
    html = tmp_path / "episodes.html"
    assert main([str(path), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "REPW 2 >>>- >>>+" in out
    assert "-    return a - b" in out
    assert "+    return a + b" in out
    assert "All tests passed." in out
    assert "repaired" in out
    assert "<html" in html.read_text()


def test_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n")
    assert main([str(path), "--failed"]) == 0
    assert "no episode matched" in capsys.readouterr().out


LONG = "    return " + " + ".join(f"term_{i}" for i in range(25)) + "  # END_OF_LINE"


def test_long_lines_wrap_whole_in_the_code_and_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = LONG.replace("term_0 ", "term_zero ", 1)
    episode = {**EPISODE, "initial_code": f"def f():\n{LONG}\n",
               "turns": [{"command": "REPW 2 >>>term_0 >>>term_zero", "status": "applied",
                          "reward": 0.0, "code": f"def f():\n{fixed}\n", "feedback": ""}]}
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(episode) + "\n")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert len(LONG) > 150
    assert out.count("END_OF_LINE") == 3  # the initial code, the diff's - and + lines
    words = re.sub(r"[│╭╮╰╯─\s]+", " ", out)
    assert "term_23 + term_24 # END_OF_LINE" in words


def test_the_initial_failures_rewards_and_the_end_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episode = {**EPISODE, "passed": False, "truncated": True, "end": "turn limit",
               "initial_feedback": "1 test failed:\n- line 1 of the tests: assert add(1, 2) == 3",
               "turns": [{"command": "REPX 9", "status": "malformed", "reward": -0.5,
                          "code": EPISODE["initial_code"], "feedback": "Syntax error"},
                         {"command": "DELL 9", "status": "rejected", "reward": -1.0,
                          "code": EPISODE["initial_code"], "feedback": "no line 9"}]}
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(episode) + "\n")
    assert main([str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "initial test report" in out
    assert "- line 1 of the tests: assert add(1, 2) == 3" in out
    assert "reward -0.5: malformed command (does not parse)" in out
    assert ("reward -0.5: rejected command (cannot be applied); -0.5: episode ended without "
            "EXIT") in out
    assert ("ended: turn limit (2 commands) reached without EXIT: not repaired; 1 of 2 "
            "commands malformed") in out


def test_an_older_record_ends_by_the_turn_limit_of_its_results_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turn = {"command": "DELL 1", "status": "applied", "reward": -0.5,
            "code": "", "feedback": "1 test failed"}
    episode = {**EPISODE, "passed": False, "truncated": True, "turns": [turn]}
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(episode) + "\n")
    (tmp_path / "results.json").write_text(json.dumps({"settings": {"max_turns": 1}}))
    assert main([str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(initial test report: not recorded in this file)" in out
    assert "ended: turn limit (1 command) reached without EXIT: not repaired" in out


def test_html_writes_the_results_page_of_the_episodes_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = {**EPISODE, "task_id": "other", "passed": False}
    path = tmp_path / "episodes.jsonl"
    path.write_text(json.dumps(EPISODE) + "\n" + json.dumps(failed) + "\n")
    html = tmp_path / "page.html"
    assert main([str(path), "--failed", "--html", str(html)]) == 0
    page = html.read_text()
    assert '<section id="summary">' in page
    assert page.count('<details class="episode"') == 1
    assert 'data-task="other"' in page


DEMO = {"id": "t#0", "task_id": "t", "split": "train", "corrupted": "x = 1\n",
        "commands": ["EXIT"], "observations": ["..."], "rewards": [0.0]}
TRAJECTORY = {"step": 1, "task_id": "t", "commands": ["EXIT"], "observations": ["..."],
              "rewards": [0.0], "infos": [{}], "passed": False}


@pytest.mark.parametrize(("argv", "message"), [
    (["{missing}"], r"missing.jsonl is not a file \(it does not exist\)"),
    (["{episodes}", "--html", "{tmp}/nowhere/x.html"], r"--html .*nowhere.* does not exist"),
    (["{episodes}", "--html", "{tmp}"], r"--html .* is a folder: name a file"),
    (["{episodes}", "--limit", "0"], r"--limit: '0' must be an integer >= 1"),
])
def test_bad_arguments_exit_2_before_showing_anything(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(json.dumps(EPISODE) + "\n")
    names = {"{missing}": str(tmp_path / "missing.jsonl"), "{episodes}": str(episodes),
             "{tmp}": str(tmp_path)}
    for name, value in names.items():
        argv = [a.replace(name, value) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert re.search(message, captured.err)
    assert "REPW" not in captured.out


def _episode(**changes: object) -> dict[str, object]:
    return {**EPISODE, **changes}


def _turn(**changes: object) -> dict[str, object]:
    return {**EPISODE["turns"][0], **changes}  # type: ignore[index]


def _line(record: object) -> bytes:
    return (json.dumps(record) + "\n").encode()


@pytest.mark.parametrize(("content", "message"), [
    (b"{oops\n", r"line 1 of .* is not JSON"),
    (_line(DEMO), r"line 1 of .* is not an evaluation episode: it looks like a "
     r"demonstrations file .*toolthink data demos.*fields task_id, mode, sample, passed, "
     r"initial_code, turns"),
    (_line(EPISODE) + _line(TRAJECTORY),
     r"line 2 of .* looks like RL sample episodes \(trajectories.jsonl"),
    (b'{"a": 1}\n', r"looks like a record with the fields \['a'\]"),
    (b"[1, 2]\n", r"looks like a JSON array"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"x.jsonl is a binary file \(NUL bytes in its first "
     r"8 KiB\), not JSONL text; show replays the episodes.jsonl that `toolthink eval --out DIR`"),
    (_line(EPISODE) + b"\x00", r"x.jsonl is a binary file"),
    (b"\x1f\x8b\x08\x00rest", r"x.jsonl is gzip-compressed: gunzip it"),
    (_line(EPISODE) + b'{"task_id": "\xe9"}\n', r"line 2 of .*x.jsonl is not UTF-8 text "
     r"\(byte 14: invalid continuation byte\)"),
    (b"[" * 100_000 + b"\n", r"line 1 of .* nests JSON deeper than Python's json module reads"),
    (b"1" * 5000 + b"\n", r"line 1 of .* is not JSON \(Exceeds the limit"),
    (b"", r"x.jsonl is empty: it holds no episode. Pass the episodes.jsonl"),
    (b"\n  \n", r"x.jsonl is empty"),
    (_line(_episode(sample="0")), r"line 1 of .* is not a valid episode: field 'sample' "
     r"is a JSON string \('0'\), expected a JSON integer\. Fix the line"),
    (_line(_episode(sample=True)), r"field 'sample' is a JSON boolean \(True\), expected a "
     r"JSON integer"),
    (_line(_episode(passed="yes")), r"field 'passed' is a JSON string .*expected a JSON boolean"),
    (_line(_episode(task_id=None)), r"field 'task_id' is a JSON null \(None\), expected a JSON "
     r"string"),
    (_line(_episode(initial_code=["x"])), r"field 'initial_code' is a JSON array"),
    (_line(_episode(turns={"a": 1})), r"field 'turns' is a JSON object"),
    (_line(_episode(turns=["EXIT"])), r"turn 1 is a JSON string, expected an object"),
    (_line(_episode(turns=[_turn(reward="1")])), r"turn 1: field 'reward' is a JSON string "
     r"\('1'\), expected a JSON integer or number"),
    (_line(_episode(turns=[_turn(), _turn(code=3)])), r"turn 2: field 'code' is a JSON integer"),
    (_line(_episode(initial_code=["x" * 100])), r"\(\['xxxxxxxxx.*x\.\.\.\), expected"),
    (_line({k: v for k, v in EPISODE.items() if k != "mode"}),
     r"line 1 of .* is not a valid episode: the fields \['mode'\] are missing"),
    (_line(_episode(turns=[{"command": "EXIT"}])),
     r"turn 1: the fields \['status', 'reward', 'code', 'feedback'\] are missing"),
])
def test_a_bad_or_foreign_file_is_one_named_line_and_exit_2(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as info:
        main([str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("toolthink show: ")
    assert err.count("\n") == 1
    assert re.search(message, err), err


@pytest.mark.parametrize(("layout", "message"), [
    ("empty folder", r"out is a folder, not a file: pass the episodes.jsonl that `toolthink eval "
     r"--out DIR` wrote"),
    ("eval folder", r"out is a folder, not a file: pass .*out/episodes.jsonl$"),
])
def test_a_folder_names_the_file_to_pass(
    layout: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if layout == "eval folder":
        (out / "episodes.jsonl").write_bytes(_line(EPISODE))
    with pytest.raises(SystemExit) as info:
        main([str(out)])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err.strip())


@pytest.mark.parametrize("task_id", ["[bold]x[/bold]", "[/]", "[red", "a[/b]c", "[link=x]y"])
def test_markup_in_the_record_prints_literally(
    task_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turn = _turn(command=f"REPW 2 {task_id}", status=task_id, feedback=task_id)
    path = tmp_path / "episodes.jsonl"
    path.write_bytes(_line(_episode(task_id=task_id, mode=task_id, turns=[turn])))
    assert main([str(path), "--task", task_id]) == 0
    out = capsys.readouterr().out
    assert out.count(task_id) >= 5  # title twice (id, mode), command, status, feedback
    assert "no episode matched" not in out


def test_control_characters_and_lone_surrogates_print_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_bytes(_line(_episode(task_id="a\x1b[2Jb", turns=[_turn(feedback="ok \ud800")])))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out
    assert "a\\x1b[2Jb" in out
    assert "ok \\ud800" in out


def test_the_cli_reports_a_bad_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolthink.cli import main as toolthink  # noqa: PLC0415

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(SystemExit) as info:
        toolthink(["show", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("toolthink show: line 1 of")
