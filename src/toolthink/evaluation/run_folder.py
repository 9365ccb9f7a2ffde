"""The evaluations a run folder holds, read back for the results page (`toolthink report`).

A run folder is what ``toolthink eval --out DIR`` writes (``results.json``,
``episodes.jsonl``, ``pass_at_k.png``, ``turns.png``) or what ``toolthink demo
--out DIR`` writes: one such folder per dataset, ``DIR/eval-<dataset>/``. An
episodes file alone (``toolthink show --html``) is an evaluation without
results.json: its summary is computed from the episodes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from toolthink.errors import ToolthinkError
from toolthink.evaluation.episode_view import EPISODE_FIELDS, episode_problem
from toolthink.evaluation.metrics import summarize
from toolthink.jsonl import JsonlError, read_numbered_jsonl

__all__ = ["FIGURES", "Evaluation", "RunFolderError", "evaluation_of_episodes", "read_run"]

FIGURES = ("pass_at_k.png", "turns.png")
"""The figures `toolthink.evaluation.figures` writes beside results.json."""


class RunFolderError(ToolthinkError, ValueError):
    """A folder holds no evaluation, or one of its files cannot be read."""


@attrs.frozen
class Evaluation:
    """One ``toolthink eval`` output: settings, scores per mode, every episode.

    Attributes:
        name: The dataset (``settings["dataset"]``, else the folder's name).
        folder: Where it was read from.
        settings: results.json's ``settings`` (empty for an episodes file alone).
        modes: Mode -> results.json's entry (``pass_at_k``, ``mean_turns``, ...).
        episodes: The episode records, in file order.
        figures: The PNG files present among `FIGURES`.
    """

    name: str
    folder: Path
    settings: dict[str, Any]
    modes: dict[str, dict[str, Any]]
    episodes: tuple[dict[str, Any], ...]
    figures: tuple[Path, ...] = ()

    @property
    def ks(self) -> tuple[int, ...]:
        """The k of pass@k evaluated."""
        ks = self.settings.get("ks")
        if ks:
            return tuple(int(k) for k in ks)
        return tuple(sorted({int(key.removeprefix("pass@")) for mode in self.modes.values()
                             for key in mode.get("pass_at_k", {}).get("all", {})
                             if key.startswith("pass@") and key[5:].isdigit()})) or (1,)


def _episodes(path: Path) -> tuple[dict[str, Any], ...]:
    """The records of an episodes file, each checked (`episode_problem`) before it is drawn."""
    fix = "not an episodes file as toolthink eval writes it"
    try:
        rows = read_numbered_jsonl(path, EPISODE_FIELDS)
    except JsonlError as e:
        msg = f"{e}: {fix}"
        raise RunFolderError(msg) from e
    for line, row in rows:
        problem = episode_problem(row)
        if problem is not None:
            msg = f"{path}:{line} is not a valid episode: {problem}; {fix}"
            raise RunFolderError(msg)
    return tuple(row for _, row in rows)


def evaluation_of_episodes(
    path: Path, episodes: Sequence[dict[str, Any]] | None = None, *,
    settings: dict[str, Any] | None = None,
) -> Evaluation:
    """An `Evaluation` from an episodes file alone: pass@k per mode from its episodes.

    Args:
        path: The episodes file.
        episodes: Its records when already read (e.g. filtered); read from ``path`` if None.
        settings: The run's settings when known (results.json beside the file).
    """
    records = tuple(episodes) if episodes is not None else _episodes(path)
    settings = dict(settings or {})
    ks = tuple(int(k) for k in settings.get("ks") or (1,))
    modes: dict[str, dict[str, Any]] = {}
    for mode in dict.fromkeys(r["mode"] for r in records):
        mine = [r for r in records if r["mode"] == mode]
        outcomes: dict[str, list[bool]] = {}
        for r in mine:
            outcomes.setdefault(str(r["task_id"]), []).append(bool(r["passed"]))
        groups = {str(r["task_id"]): str(r["bug_kind"]) for r in mine if r.get("bug_kind")}
        modes[mode] = {"pass_at_k": summarize(outcomes, ks, groups),
                       "mean_turns": sum(len(r["turns"]) for r in mine) / len(mine)}
    return Evaluation(name=str(settings.get("dataset") or path.stem), folder=path.parent,
                      settings=settings, modes=modes, episodes=records)


def _evaluation(folder: Path) -> Evaluation:
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        msg = f"{folder / 'results.json'} cannot be read ({e}): rerun toolthink eval --out {folder}"
        raise RunFolderError(msg) from e
    if not isinstance(results, dict) or not isinstance(results.get("modes"), dict):
        msg = f"{folder / 'results.json'} has no 'modes': not the results of toolthink eval"
        raise RunFolderError(msg)
    episodes_file = folder / "episodes.jsonl"
    episodes = _episodes(episodes_file) if episodes_file.is_file() else ()
    settings = results.get("settings") or {}
    name = str(settings.get("dataset") or folder.name.removeprefix("eval-"))
    return Evaluation(name=name, folder=folder, settings=settings, modes=results["modes"],
                      episodes=episodes,
                      figures=tuple(folder / f for f in FIGURES if (folder / f).is_file()))


def read_run(path: str | Path) -> list[Evaluation]:
    """The evaluations under ``path``: its own results.json, or its ``*/results.json``.

    Args:
        path: A ``toolthink eval --out`` folder or a ``toolthink demo --out`` folder.

    Returns:
        One `Evaluation` per results.json, the folder's own first, then its
        subfolders' in name order.

    Raises:
        RunFolderError: ``path`` is not a folder, holds no results.json, or a
            file in it cannot be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        msg = (f"{folder} is not a folder: pass the --out folder of toolthink eval or "
               "toolthink demo")
        raise RunFolderError(msg)
    found = [folder] if (folder / "results.json").is_file() else []
    found += sorted(p.parent for p in folder.glob("*/results.json"))
    if not found:
        msg = (f"{folder} holds no results.json (nor */results.json): pass the --out folder "
               "of toolthink eval or toolthink demo")
        raise RunFolderError(msg)
    return [_evaluation(f) for f in found]
