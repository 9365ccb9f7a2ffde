"""Synthetic bugs and Chain-of-Edits demonstrations (no torch needed).

`corruption` applies the paper's random line edits, `mutations` the LibCST
semantic bug kinds, `bugs` is the one synthetic-bug maker (demonstrations, RL
tasks, the held-out set), `traces` turns a (buggy, correct) pair into DSL
commands, `demos` verifies demonstrations, `heldout` makes the held-out repair
tasks that evaluation and the SFT evaluation hook play.
"""
