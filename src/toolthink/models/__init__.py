"""The one place a model, its tokenizer and an adapter are loaded, with the device and dtype policy.

`toolthink.models.loader.load_model` turns a model spec (``embedded``, a local
Hugging Face folder, a hub id in the local cache) plus an optional peft adapter
into a model and a tokenizer; `toolthink.models.devices` resolves ``--device``
and ``--dtype``; `toolthink.models.embedded` converts the embedded
SmolLM2-135M-Instruct once; `toolthink.models.lora` builds LoRA settings through
TRL's ``ModelConfig`` and ``get_peft_config``.
"""
