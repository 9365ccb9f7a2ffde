"""Data, environment, constrained decoding, SFT, RL and evaluation.

Only this layer imports torch, transformers, trl or peft.
"""
