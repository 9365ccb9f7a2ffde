"""``toolthink demo``: every stage's argv parses with that stage's own command."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from toolthink.pipeline import FULL, QUICK, stages


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("data_dir", [None, "/data"])
def test_every_stage_parses(tmp_path: Path, quick: bool, data_dir: str | None) -> None:
    plan = stages(tmp_path / "demo", quick=quick, data_dir=data_dir)
    assert [stage.title.split(":")[0] for stage in plan][:3] == [
        "demonstrations", "supervised fine-tuning", "reinforcement learning"]
    assert len(plan) == (6 if data_dir else 4)
    for stage in plan:
        module, argv = stage.module, stage.argv
        parser = importlib.import_module(module).make_parser()
        if hasattr(parser, "parse_args_and_config"):  # TRL's parser: dataclasses validate
            parsed = parser.parse_args_and_config(list(argv))
            assert parsed
        else:
            parser.parse_args(list(argv))


def test_budgets_follow_the_mode(tmp_path: Path) -> None:
    quick = {s.title: s.argv for s in stages(tmp_path, quick=True, data_dir=None)}
    full = {s.title: s.argv for s in stages(tmp_path, quick=False, data_dir=None)}
    sft_quick, sft_full = quick["supervised fine-tuning"], full["supervised fine-tuning"]
    assert sft_quick[sft_quick.index("--max_steps") + 1] == str(QUICK.sft_steps)
    assert sft_full[sft_full.index("--max_steps") + 1] == str(FULL.sft_steps)
    evaluation = full["evaluation: embedded held-out problems"]
    assert evaluation[evaluation.index("--k") + 1] == "1,2"
    # Demonstrations use the environment's own timeout: feedback quotes it, and
    # training states must match evaluation states token for token.
    assert "--timeout" not in quick["demonstrations"]


def test_summary_table_compares_modes_per_dataset(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from toolthink.pipeline import summary_table  # noqa: PLC0415

    assert summary_table(tmp_path) is None
    for dataset, coe, direct in (("embedded", 0.25, 0.0), ("quixbugs", 0.1, 0.05)):
        folder = tmp_path / f"eval-{dataset}"
        folder.mkdir()
        results = {"settings": {"tasks": 4, "ks": [1, 2]}, "modes": {
            "chain-of-edits": {"pass_at_k": {"all": {"pass@1": coe, "pass@2": coe}},
                               "mean_turns": 2.5},
            "direct": {"pass_at_k": {"all": {"pass@1": direct, "pass@2": direct}}}}}
        (folder / "results.json").write_text(json.dumps(results))
    console = Console(record=True, width=80)  # a plain terminal: nothing may be cut
    console.print(summary_table(tmp_path))
    text = console.export_text()
    assert "…" not in text  # headers may wrap onto two lines, never be cut
    assert text.count("pass@2") == 2
    assert "direct" in text
    for cell in ("embedded", "0.250", "quixbugs", "0.050"):
        assert cell in text


def test_bad_out_or_data_dir_stop_before_any_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolthink.pipeline import main  # noqa: PLC0415

    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["--out", str(afile)]) == 2
    assert "is a file" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "demos").mkdir()
    assert main(["--out", str(used)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "new"), "--data-dir", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_rl_stage_checkpoints_activations(tmp_path: Path) -> None:
    rl = {s.title: s.argv for s in stages(tmp_path, quick=True, data_dir=None)}
    argv = rl["reinforcement learning"]
    assert argv.count("--activation_checkpointing") == 1
    assert argv[argv.index("--activation_checkpointing") + 1] == "true"
    assert "--gradient_checkpointing" not in argv  # transformers 5 deprecates the name


@pytest.mark.parametrize("quick", [True, False])
def test_sft_stage_reads_its_two_demonstrations_one_at_a_time(tmp_path: Path, quick: bool) -> None:
    argv = {s.title: s.argv for s in stages(tmp_path, quick=quick, data_dir=None)}[
        "supervised fine-tuning"]
    flags = dict(zip(argv[::2], argv[1::2], strict=False))
    assert flags["--per_device_train_batch_size"] == "1"  # half the activations alive at once
    assert flags["--gradient_accumulation_steps"] == "2"  # two demonstrations per step, as before
    assert argv.count("--per_device_train_batch_size") == 1


@pytest.mark.parametrize(("stage", "flags"), [
    ("supervised fine-tuning", ("--learning_rate", "2.0e-4", "--lr_scheduler_type", "cosine",
                                "--warmup_steps", "2", "--weight_decay", "0.0")),
    ("reinforcement learning", ("--learning_rate", "5.0e-4", "--lr_scheduler_type", "constant")),
])
def test_the_optimizer_is_the_shipped_cpu_configs(tmp_path: Path, stage: str,
                                                  flags: tuple[str, ...]) -> None:
    # read from the YAML in the package, each value as the file writes it: a demo folder
    # finished before keeps its argv (StageMismatchError otherwise)
    argv = {s.title: s.argv for s in stages(tmp_path, quick=False, data_dir=None)}[stage]
    start = argv.index("--learning_rate")
    assert argv[start:start + len(flags)] == flags


@pytest.mark.parametrize("job", ["demo", "study"])
def test_both_jobs_take_the_trainers_shape_and_memory_from_the_shipped_configs(
    tmp_path: Path, job: str
) -> None:
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 (TRL's dependency)

    from toolthink import study  # noqa: PLC0415
    from toolthink.stages import GROUP_KEYS  # noqa: PLC0415

    plan = (stages(tmp_path, quick=False, data_dir=None) if job == "demo"
            else study.stages(tmp_path, budget=study.BUDGETS["full"], data_dir=None))  # fmt: skip
    trainers = {"toolthink.training.sft_cli": ("sft_cpu.yaml", ()),
                "toolthink.training.rl_cli": ("rl_cpu.yaml", GROUP_KEYS)}
    seen = set()
    for stage in plan:
        if stage.module not in trainers:
            continue
        config, keys = trainers[stage.module]
        seen.add(stage.module)
        text = (Path(__file__).parents[1] / "configs" / config).read_text(encoding="utf-8")
        shipped = yaml.safe_load(text)
        flags = dict(zip(stage.argv[::2], stage.argv[1::2], strict=False))
        for key in (*keys, "activation_checkpointing"):
            assert stage.argv.count(f"--{key}") == 1, (stage.title, key)
            assert yaml.safe_load(flags[f"--{key}"]) == shipped[key], (stage.title, key)
    assert seen == set(trainers)


def test_the_demo_ends_with_one_results_page_of_every_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json  # noqa: PLC0415

    from toolthink import pipeline  # noqa: PLC0415
    from toolthink import stages as stage_runner  # noqa: PLC0415

    def fake_stage(argv: list[str], label: str) -> int:
        if argv[2] == "toolthink.evaluation.cli":  # what toolthink eval --out writes
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True)
            dataset = argv[argv.index("--dataset") + 1]
            modes = {m: {"pass_at_k": {"all": {"tasks": 1.0, "pass@1": 0.0}}, "mean_turns": 1.0}
                     for m in ("chain-of-edits", "direct")}
            (out / "results.json").write_text(json.dumps(
                {"settings": {"dataset": dataset, "ks": [1], "modes_on_base_model": ["direct"]},
                 "modes": modes}))
        return 0

    monkeypatch.setattr(stage_runner, "run_process", fake_stage)
    out = tmp_path / "demo"
    assert pipeline.main(["--quick", "--out", str(out), "--data-dir", str(tmp_path)]) == 0
    page = (out / "report.html").read_text()
    for dataset in ("embedded", "quixbugs", "humanevalfix"):
        assert f"<td>{dataset}</td><td>chain-of-edits</td>" in page
    # the final table in a file at the top (issue 17), with each stage's time
    summary = json.loads((out / "summary.json").read_text())
    assert [row[0] for row in summary["rows"]] == ["embedded", "humanevalfix", "quixbugs"]
    assert [s["stage"] for s in summary["stages"]][:3] == [
        "demonstrations", "supervised fine-tuning", "reinforcement learning"]
    summary = (out / "summary.md").read_text()
    assert "| embedded | ? | 0.000 | 0.000 | 1.00 |" in summary
    assert "embedded: direct ran on the base model" in summary  # not the RL adapter


def test_summary_files_hold_the_table_and_what_a_reader_needs(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    from toolthink.pipeline import write_summary  # noqa: PLC0415

    assert write_summary(tmp_path, [], 1.0) == []  # no evaluation ran: no summary
    folder = tmp_path / "eval-embedded"
    folder.mkdir()
    coe = {"pass_at_k": {"all": {"pass@1": 0.25}}, "mean_turns": 3.0, "exit_rate": 0.0}
    (folder / "results.json").write_text(json.dumps({
        "settings": {"tasks": 4, "ks": [1], "max_turns": 3},
        "modes": {"chain-of-edits": coe, "direct": {"pass_at_k": {"all": {"pass@1": 0.0}}}}}))
    (tmp_path / "sft").mkdir()
    note = "12 of 32 demonstrations were over max_length=1024 tokens (...)"
    (tmp_path / "sft" / "metrics.json").write_text(json.dumps({"data": {"overlong_note": note}}))
    ran = [{"stage": "evaluation", "command": "toolthink eval --limit 4", "seconds": 141.6,
            "status": 0}]
    assert write_summary(tmp_path, ran, 797.0) == [tmp_path / "summary.json",
                                                    tmp_path / "summary.md"]
    text = (tmp_path / "summary.md").read_text()
    assert "| dataset | tasks | CoE pass@1 | direct pass@1 | CoE turns |" in text
    assert "| embedded | 4 | 0.250 | 0.000 | 3.00 |" in text
    assert ("- embedded: No Chain-of-Edits episode sent EXIT: each ran to the turn limit (3) or "
            "the token budget") in text
    assert f"- supervised fine-tuning: {note}" in text
    assert "| evaluation | `toolthink eval --limit 4` | 142 | 0 |" in text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["wall_seconds"] == 797.0
    assert summary["results"]["embedded"]["settings"]["tasks"] == 4


@pytest.mark.parametrize("status", [0, 3])
def test_a_silent_stage_gets_still_running_lines(
    status: int, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import gc  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    from toolthink import stages as stage_runner  # noqa: PLC0415

    monkeypatch.setattr(stage_runner, "HEARTBEAT_SECONDS", 0.3)
    child = ("import sys, time; print('first', flush=True); time.sleep(1.0); print('last'); "
             f"sys.exit({status})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert stage_runner.run_process([sys.executable, "-c", child], "[2/4] training") == status
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]  # pipe closed
    out = capfd.readouterr().out
    assert out.startswith("first\n")
    assert "[2/4] training: still running (" in out
    assert "s without output)" in out
    assert out.endswith("last\n")

