"""The embedded corpus: correct functions with tests that ship inside toolthink.

``toolthink/tasks/data/corpus.toml`` holds problems written for this project
(Apache-2.0), varied in control flow (loops, recursion, early returns,
exceptions, generators, classes) and data types (numbers, strings, lists,
dicts, sets, tuples, None), each with a statement, a correct solution and tests
in the MBPP assert convention. With it the main job runs on a fresh machine
with no data folder; the benchmarks proper need `load_humanevalfix`,
`load_quixbugs` and `load_mbpp`.
"""

from __future__ import annotations

import functools
import importlib.resources
import tomllib

from toolthink.tasks.sources import DatasetFormatError
from toolthink.tasks.task import Problem, Provenance

__all__ = ["CORPUS_RESOURCE", "load_embedded_corpus"]

CORPUS_RESOURCE = "data/corpus.toml"
_FIELDS = ("id", "entry_point", "statement", "solution", "tests")


@functools.cache
def load_embedded_corpus() -> tuple[Problem, ...]:
    """Load the embedded corpus (cached).

    Returns:
        Problems in file order, ids ``toolthink/<id>``.

    Raises:
        DatasetFormatError: An entry lacks a field or repeats an id (a packaging bug).
    """
    text = importlib.resources.files("toolthink.tasks").joinpath(CORPUS_RESOURCE).read_text("utf-8")
    entries = tomllib.loads(text).get("problem", [])
    problems = []
    for number, entry in enumerate(entries, start=1):
        missing = [name for name in _FIELDS if not isinstance(entry.get(name), str)]
        if missing:
            msg = f"embedded corpus entry {number} lacks the text fields {missing}"
            raise DatasetFormatError(msg)
        problems.append(
            Problem(
                task_id=f"toolthink/{entry['id']}",
                statement=entry["statement"],
                solution=entry["solution"],
                tests=entry["tests"],
                entry_point=entry["entry_point"],
                provenance=Provenance(
                    dataset="toolthink corpus",
                    item=entry["id"],
                    license="Apache-2.0",
                    source=f"toolthink/tasks/{CORPUS_RESOURCE}",
                ),
            )
        )
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        msg = "the embedded corpus repeats an id"
        raise DatasetFormatError(msg)
    return tuple(problems)
