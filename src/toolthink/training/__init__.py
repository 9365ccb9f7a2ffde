"""Training: supervised fine-tuning and multi-turn GRPO on repair episodes.

Models are loaded by `toolthink.models`; episodes are played by `toolthink.rollout`.
"""
