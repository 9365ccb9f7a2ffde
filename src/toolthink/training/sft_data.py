"""Demonstrations as pre-tokenized SFT examples (token-in/token-out).

Each demonstration (a record of `toolthink.data.demos.build_demos`, schema in
docs/data.md) becomes one multi-turn conversation, encoded piece by piece with
`toolthink.rollout.chat.ChatFormat`::

    head(system, prompt) + command_1 + end + observation_1 + command_2 + end ...

so the ids are, token for token, what a rollout feeds the model for the same
trace, and ``labels`` keep only the command and end-of-turn tokens (the rest is
``-100``). A direct-answer demonstration (`toolthink.data.direct`) is the same
with one "command", the whole fixed program, and no observation: the loss is on
the answer's tokens only. TRL's ``SFTTrainer`` takes such a dataset as is (an ``input_ids``
column means "already processed"; a ``labels`` column is used as the loss mask).

Episodes longer than ``max_length`` are dropped by default: cutting one keeps
the prompt and loses the commands that repair it (the paper trains at 2048).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from toolthink.data.direct import format_of
from toolthink.env import PROMPT_VERSION, TrainingFormat
from toolthink.errors import ToolthinkError
from toolthink.jsonl import JsonlError, read_jsonl
from toolthink.rollout.chat import IGNORE_INDEX, ChatFormat

if TYPE_CHECKING:
    import datasets

__all__ = [
    "DemoDataError",
    "EncodedDemos",
    "build_embedded_demos",
    "encode_demos",
    "read_demos",
    "select_splits",
]

logger = logging.getLogger(__name__)

OVERLONG = ("skip", "truncate")
"""What to do with an episode over ``max_length`` tokens."""


class DemoDataError(ToolthinkError, ValueError):
    """The demonstrations cannot be read or yield no training example."""


@attrs.frozen
class EncodedDemos:
    """Tokenized demonstrations and what became of them.

    Attributes:
        dataset: Columns ``input_ids``, ``labels`` (lists of ints, equal
            lengths) and ``id``; one row per kept demonstration.
        kept: Demonstrations kept.
        skipped: Demonstrations dropped for being over ``max_length``.
        truncated: Demonstrations cut to ``max_length``.
        tokens: Tokens in the kept rows.
        trained_tokens: Tokens with a label (commands and end-of-turn).
        max_tokens: Longest row before any cut.
        prompt_version: The `toolthink.env.PROMPT_VERSION` the texts were
            rendered with (records that name none count as the current one).
        training_format: Chain-of-Edits or direct (`toolthink.data.direct.format_of`).
    """

    dataset: datasets.Dataset
    kept: int
    skipped: int
    truncated: int
    tokens: int
    trained_tokens: int
    max_tokens: int
    prompt_version: str = PROMPT_VERSION
    training_format: TrainingFormat = TrainingFormat.CHAIN_OF_EDITS

    def summary(self) -> dict[str, int]:
        """The counts, for logs and ``metrics.json``."""
        return {
            "kept": self.kept,
            "skipped_overlong": self.skipped,
            "truncated": self.truncated,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "max_tokens": self.max_tokens,
        }

    def overlong_note(self, max_length: int | None) -> str | None:
        """What the run lost to ``max_length``, with the fix; None when nothing was dropped.

        Issue 17: a quick demo dropped 12 of 32 demonstrations and said so in
        one log line; the run's summary (the last log line, ``metrics.json``,
        the model card, the demo's ``summary.md``) now carries this sentence.
        """
        if not self.skipped:
            return None
        return (f"{self.skipped} of {self.kept + self.skipped} demonstrations were over "
                f"max_length={max_length} tokens (longest: {self.max_tokens}) and were not "
                f"trained on: pass --max_length {self.max_tokens} to keep them, or "
                "--overlong truncate to cut them")


def read_demos(path: str | Path, splits: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Read demonstrations written by ``toolthink data demos``.

    Args:
        path: A ``demos.jsonl`` file, or the folder that holds one.
        splits: Keep only records whose ``split`` is one of these (None: all).

    Returns:
        The records, in file order.

    Raises:
        DemoDataError: No such file, a line that is not a JSON object (the
            message names the file and line), or no record in the chosen splits.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "demos.jsonl"
    if not file.is_file():
        msg = (f"demos={str(path)!r} is not a demos.jsonl file or a folder holding one: "
               "build one with `toolthink data demos --out DIR`, or omit --demos to build a "
               "small set from the embedded corpus")
        raise DemoDataError(msg)
    try:
        everything = read_jsonl(file)
    except JsonlError as e:
        msg = (f"{e}: pass the demos.jsonl that `toolthink data demos --out DIR` wrote, or its "
               "folder")
        raise DemoDataError(msg) from e
    return everything if splits is None else select_splits(everything, splits, file)


def select_splits(
    records: Sequence[dict[str, Any]], splits: Sequence[str], source: str | Path
) -> list[dict[str, Any]]:
    """The ``records`` whose ``split`` is one of ``splits``, in order.

    Args:
        records: Demonstrations (`read_demos` with no splits).
        splits: The splits to keep.
        source: Where the records came from, for the message.

    Raises:
        DemoDataError: No record is in ``splits`` (the message names those it holds).
    """
    chosen = [r for r in records if r.get("split") in splits]
    if not chosen:
        held = sorted({str(r.get("split")) for r in records})
        msg = (f"{source} holds no demonstration in splits {list(splits)} (it holds "
               f"{held or 'none'}): choose splits it holds with --train_splits / --eval_splits, "
               "or rebuild it with `toolthink data demos --split all`")
        raise DemoDataError(msg)
    return chosen


def build_embedded_demos(
    per_problem: int = 1,
    seed: int = 0,
    splits: Sequence[str] = ("train",),
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Build demonstrations from the embedded corpus, no data folder needed.

    Only problems in ``splits`` (`toolthink.tasks.splits.split_of`: 33 of the 47 in
    ``train``) are used, as corrupted programs and as donors of lines, so that the
    held-out problems `toolthink eval --dataset embedded` scores never reach
    training. Runs every program in the sandbox (a few demonstrations per second
    on 2 cores).

    Args:
        per_problem: Demonstrations attempted per problem.
        seed: Corruption seed.
        splits: Problem splits to build from (``train``, ``test``).
        timeout: Seconds per test run; None: the environment's default
            (`toolthink.env.EnvConfig.timeout`), which timeouts quote in the
            feedback, so training states match evaluation states token for token.

    Returns:
        The verified records (`toolthink.data.demos.DemoSet.records`).
    """
    from toolthink.data.demos import DemoConfig, build_demos  # noqa: PLC0415
    from toolthink.env import EnvConfig  # noqa: PLC0415
    from toolthink.tasks import load_embedded_corpus  # noqa: PLC0415
    from toolthink.tasks.splits import split_of  # noqa: PLC0415

    problems = [p for p in load_embedded_corpus() if split_of(p.task_id) in splits]
    if not problems:
        msg = f"no embedded problem is in splits {list(splits)}: use train and/or test"
        raise DemoDataError(msg)
    logger.info("Building demonstrations from %d embedded problems (splits %s, per problem: %d)",
                len(problems), ", ".join(splits), per_problem)
    env = EnvConfig() if timeout is None else EnvConfig(timeout=timeout)
    demos = build_demos(problems, DemoConfig(per_problem=per_problem, seed=seed, env=env))
    logger.info("Built %d demonstrations (rejected: %s)", len(demos.records), demos.rejected)
    return list(demos.records)


def encode_demos(
    records: Iterable[dict[str, Any]],
    chat: ChatFormat,
    max_length: int | None,
    overlong: str = "skip",
) -> EncodedDemos:
    """Tokenize demonstrations into SFT rows.

    Args:
        records: Demonstration dicts with ``system``, ``prompt``, ``commands``
            and ``observations``.
        chat: The tokenizer's chat pieces.
        max_length: Most tokens per row (None: no limit).
        overlong: ``"skip"`` drops longer episodes, ``"truncate"`` keeps their
            first ``max_length`` tokens.

    Returns:
        The dataset and counts.

    Raises:
        DemoDataError: ``overlong`` is unknown, no row is left, or the records
            mix prompt versions or formats (a model learns one).
    """
    import datasets  # noqa: PLC0415

    if overlong not in OVERLONG:
        msg = f"overlong={overlong!r} is not a policy: use one of {list(OVERLONG)}"
        raise DemoDataError(msg)
    records = list(records)
    try:
        formats = sorted({format_of(r).value for r in records})
    except ValueError as e:
        raise DemoDataError(str(e)) from e
    if len(formats) > 1:
        msg = (f"the demonstrations mix training formats {formats}: train one model per "
               "format (`toolthink data demos --format ...` writes one)")
        raise DemoDataError(msg)
    versions = sorted({str(r.get("prompt_version", PROMPT_VERSION)) for r in records})
    if len(versions) > 1:
        msg = (f"the demonstrations mix prompt versions {versions}: a model learns one prompt; "
               "rebuild them with one toolthink version (`toolthink data demos --out DIR`)")
        raise DemoDataError(msg)
    rows: dict[str, list[Any]] = {"id": [], "input_ids": [], "labels": []}
    skipped = truncated = tokens = trained = longest = 0
    for index, record in enumerate(records):
        encoded = chat.encode_episode(
            record["system"], record["prompt"], record["commands"], record["observations"],
            untrained=record.get("untrained", ()),
        )
        ids, labels = list(encoded.input_ids), list(encoded.labels)
        longest = max(longest, len(ids))
        if max_length is not None and len(ids) > max_length:
            if overlong == "skip":
                skipped += 1
                continue
            ids, labels = ids[:max_length], labels[:max_length]
            if all(label == IGNORE_INDEX for label in labels):
                skipped += 1
                continue
            truncated += 1
        rows["id"].append(str(record.get("id", index)))
        rows["input_ids"].append(ids)
        rows["labels"].append(labels)
        tokens += len(ids)
        trained += sum(label != IGNORE_INDEX for label in labels)
    if not rows["id"]:
        msg = (f"no demonstration fits in max_length={max_length} tokens "
               f"(longest: {longest}, skipped: {skipped}): raise --max_length or use "
               "--overlong truncate")
        raise DemoDataError(msg)
    result = EncodedDemos(
        dataset=datasets.Dataset.from_dict(rows),
        kept=len(rows["id"]),
        skipped=skipped,
        truncated=truncated,
        tokens=tokens,
        trained_tokens=trained,
        max_tokens=longest,
        prompt_version=versions[0],
        training_format=TrainingFormat(formats[0]),
    )
    if (note := result.overlong_note(max_length)) is not None:
        logger.warning("%s", note)
    return result
