"""Fixtures for evaluation.

The embedded tokenizer, the tiny model over its vocabulary and that model saved
as a folder (``tiny_model_dir``) come from tests/conftest.py. The tiny model
writes noise: the tests check the plumbing (records, scores, files, exit
statuses), never that a repair succeeds, except through the oracle seams that
are labelled as such.
"""
