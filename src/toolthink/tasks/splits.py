"""Which split a problem belongs to, by its id: one answer for demonstrations, RL and evaluation.

A problem's split never depends on what was built from it, so a problem held
out for evaluation (``test``) is never a training problem of SFT or RL.
"""

from __future__ import annotations

import hashlib

__all__ = ["mbpp_split", "split_of"]


def mbpp_split(task_id: str) -> str:
    """The upstream MBPP split of a problem, by id (Austin et al., 2021).

    1-10 ``prompt``, 11-510 ``test``, 511-600 ``validation``, 601-974 ``train``.
    Other ids (not MBPP) go to ``train``.
    """
    try:
        number = int(task_id.rsplit("/", 1)[-1])
    except ValueError:
        return "train"
    if number <= 10:
        return "prompt"
    if number <= 510:
        return "test"
    if number <= 600:
        return "validation"
    return "train"


def split_of(task_id: str) -> str:
    """The split of a problem, by its id; never by demonstration.

    MBPP problems keep their upstream split (`mbpp_split`). Other sources (the
    embedded corpus) put about one problem in five in ``test``, chosen by a hash
    of the id (stable across runs and machines), and the rest in ``train``.
    """
    if task_id.startswith("MBPP/"):
        return mbpp_split(task_id)
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    return "test" if digest[0] % 5 == 0 else "train"
