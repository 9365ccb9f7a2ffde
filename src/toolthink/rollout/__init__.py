"""Inference that training and evaluation share: a model plays repair episodes.

The chat-template token layout (`toolthink.rollout.chat`), the per-turn command
grammars (`toolthink.rollout.grammars`) and the llguidance constraint with its
bitmasks (`toolthink.rollout.constrained`, `toolthink.rollout.bitmasks`), the
turn samplers (`toolthink.rollout.samplers`: transformers ``generate``; a vLLM
server in `toolthink.rollout.vllm_server`), batched episodes
(`toolthink.rollout.episodes`) and the replay of the grammar masks for the RL
loss (`toolthink.rollout.mask_replay`).

A new inference backend (llama.cpp, vLLM in-process) is one more `TurnSampler`
module here: `run_episodes` and the direct-answer baseline take any sampler.
"""
