"""Stand-ins for a vLLM server in tests: vLLM needs a GPU and is not installed here.

`ModelClient` answers ``VLLMClient.generate`` calls (TRL 1.16's signature and
return value) by sampling with a local model under the grammar of the
request's ``structured_outputs``, the way a vLLM server with the guidance
backend would; `FakeServer` speaks the HTTP side (``/health``,
``/v1/models``, ``/v1/completions`` in vLLM's OpenAI-compatible format) so
that TRL's real client can be pointed at it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from transformers import PreTrainedModel

from toolthink.rollout.constrained import GrammarConstraint
from toolthink.rollout.samplers import GenerateSampler, RolloutConfig

__all__ = ["FakeServer", "ModelClient", "answer"]


def answer(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
           logprobs: Sequence[Sequence[float]]) -> dict[str, Any]:
    """A ``VLLMClient.generate`` return value with ``logprobs=0`` (shapes (N, T, 1))."""
    return {
        "prompt_ids": [list(p) for p in prompts],
        "completion_ids": [list(c) for c in completions],
        "logprobs": [[[v] for v in row] for row in logprobs],
        "logprob_token_ids": [[[t] for t in row] for row in completions],
    }


class ModelClient:
    """``VLLMClient.generate`` answered by ``model`` under the request's grammar."""

    def __init__(self, model: PreTrainedModel, constraint: GrammarConstraint, pad_id: int) -> None:
        self.sampler = GenerateSampler(model, constraint, pad_id)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def generate(self, prompts: list[list[int]], *, n: int = 1, temperature: float = 1.0,
                 top_p: float = 1.0, top_k: int = 0, max_tokens: int = 16,
                 logprobs: int | None = 0, **kwargs: Any) -> dict[str, Any]:
        generation_kwargs = kwargs.get("generation_kwargs") or {}
        with self.lock:  # the sampler sends requests from a thread pool
            self.requests.append({"prompts": prompts, "n": n, "max_tokens": max_tokens,
                                  "logprobs": logprobs, **generation_kwargs})
            grammar = generation_kwargs["structured_outputs"]["grammar"]
            config = RolloutConfig(max_new_tokens=max_tokens, temperature=temperature,
                                   top_p=top_p, top_k=top_k)
            turns = self.sampler.sample(prompts, [grammar] * len(prompts), config)
        return answer(prompts, [ids for ids, _, _ in turns], [lp for _, lp, _ in turns])


class FakeServer:
    """A local HTTP server with the endpoints ``VLLMClient`` calls to generate.

    ``complete(body) -> (completion ids per prompt, log-prob per id)`` makes
    the completions; every request body is kept in ``bodies``.
    """

    def __init__(self, complete: Callable[[dict[str, Any]],
                                          tuple[list[list[int]], list[list[float]]]]) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send({})
                elif self.path == "/v1/models":
                    self._send({"object": "list", "data": [{"id": "tiny", "object": "model"}]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                if self.path != "/v1/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                completions, logprobs = complete(body)
                choices = []
                for index, (prompt, ids, lps) in enumerate(
                        zip(body["prompt"], completions, logprobs, strict=True)):
                    tokens = [f"token_id:{t}" for t in ids]
                    top = [{t: v} for t, v in zip(tokens, lps, strict=True)]
                    choices.append({
                        "index": index, "text": "", "prompt_token_ids": prompt, "token_ids": ids,
                        "finish_reason": "stop",
                        "logprobs": {"tokens": tokens, "token_logprobs": lps,
                                     "top_logprobs": top,
                                     "text_offset": [0] * len(ids)},
                    })
                self._send({"id": "cmpl-0", "object": "text_completion", "model": "tiny",
                            "choices": choices})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
