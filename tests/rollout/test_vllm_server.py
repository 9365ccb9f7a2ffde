"""Turn sampling on a vLLM server (`toolthink.rollout.vllm_server`), against stand-ins.

vLLM needs a GPU and is not installed here: `ModelClient` answers TRL's
``VLLMClient.generate`` with the tiny model under the request's grammar, and
`FakeServer` lets TRL's real client run its HTTP code against the response
format of vLLM's ``/v1/completions``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from toolthink.env import EnvConfig
from toolthink.rollout.chat import ChatFormat
from toolthink.rollout.episodes import RolloutConfig, run_episodes
from toolthink.rollout.grammars import turn_grammar
from toolthink.rollout.vllm_server import (
    VLLMProtocolError,
    VLLMServerError,
    VLLMServerSampler,
    check_server,
)
from toolthink.tool import SandboxPool

from .test_episodes import easy_tasks
from .vllm_fakes import FakeServer, ModelClient, answer

ROOT = Path(__file__).parents[2]


def pad_of(tokenizer: Any, constraint: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if isinstance(pad, int) else constraint.eos_token_ids[0])


def play(tiny_model: Any, tokenizer: Any, constraint: Any, sampler: Any = None) -> list[Any]:
    with SandboxPool() as pool:
        return run_episodes(
            tiny_model, tokenizer, easy_tasks(3) * 2, sandbox=pool,
            env_config=EnvConfig(max_turns=3), constraint=constraint, sampler=sampler,
            config=RolloutConfig(max_new_tokens=16, temperature=0.0),
        )


def test_the_server_sampler_plays_the_episodes_generate_plays(tiny_model, tokenizer,
                                                              constraint) -> None:
    # greedy decoding: a server that samples like generate under the same grammar
    # gives the same episodes, so the seam adds and loses nothing
    direct = play(tiny_model, tokenizer, constraint)
    client = ModelClient(tiny_model, constraint, pad_of(tokenizer, constraint))
    served = play(tiny_model, tokenizer, constraint, VLLMServerSampler(client, constraint))
    for a, b in zip(direct, served, strict=True):
        assert a.completion_ids == b.completion_ids
        assert a.env_mask == b.env_mask
        assert a.commands == b.commands
        assert a.rewards == b.rewards
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-4)
    # one request per distinct grammar of each turn, all prompts as the ids played
    expected = sum(len({e.grammars[t] for e in served if e.turns > t})
                   for t in range(max(e.turns for e in served)))
    assert len(client.requests) == expected
    assert {len(r["prompts"]) for r in client.requests[:1]} <= {2, 4, 6}
    for request in client.requests:
        assert request["n"] == 1
        assert request["logprobs"] == 0
        assert request["max_tokens"] == 16
        assert request["stop_token_ids"] == list(constraint.eos_token_ids)
    played = {tuple(e.prompt_ids) for e in served}
    assert {tuple(p) for p in client.requests[0]["prompts"]} <= played


class Canned:
    """A client whose completion for every prompt is ``ids`` with ``logprobs``."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def generate(self, prompts: list[list[int]], **kwargs: Any) -> dict[str, Any]:
        return self.make(prompts, kwargs)


@pytest.fixture(scope="module")
def command(tokenizer) -> Any:
    chat = ChatFormat.from_tokenizer(tokenizer)
    return lambda text: list(chat.command_ids(text))


GRAMMAR = turn_grammar(lines=["a = 1", "b = 2", "return a"])
ROW = [5, 6, 7]
CONFIG = RolloutConfig(max_new_tokens=16)


def sample(constraint: Any, make: Any, config: RolloutConfig = CONFIG) -> Any:
    return VLLMServerSampler(Canned(make), constraint).sample([ROW], [GRAMMAR], config)


def test_a_valid_answer_comes_back_as_ids_log_probs_and_the_eos_flag(constraint, command) -> None:
    ids = command("DELL 2")
    assert ids[-1] in constraint.eos_token_ids
    lps = [-0.5] * len(ids)
    [(got, logprobs, ended)] = sample(constraint, lambda p, kw: answer(p, [ids], [lps]))
    assert (got, logprobs, ended) == (ids, lps, True)


def test_a_command_cut_at_max_tokens_is_kept_unended(constraint, command) -> None:
    ids = command("REPL 2 >>>b = 3")[:-1][:5]
    config = RolloutConfig(max_new_tokens=len(ids))
    [(got, _, ended)] = sample(constraint, lambda p, kw: answer(p, [ids], [[-1.0] * len(ids)]),
                               config)
    assert got == ids
    assert not ended


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda a: a["prompt_ids"][0].append(9), "saw 4 prompt ids, not the 3 sent"),
    (lambda a: a.update(logprobs=None), "no log-probs"),
    (lambda a: a["logprobs"][0].pop(), "one per sampled id"),
    (lambda a: a["logprob_token_ids"][0].__setitem__(0, [3]), "log-prob entry is for"),
    (lambda a: a["logprobs"][0].__setitem__(0, [float("-inf")]), "log-prob -inf"),
    (lambda a: a["logprobs"][0].__setitem__(0, [-9999.0]), "log-prob -9999.0"),  # vLLM's floor
])
def test_an_answer_that_breaks_token_in_token_out_is_refused(constraint, command, break_it,
                                                              message) -> None:
    ids = command("DELL 2")

    def make(prompts: list[list[int]], kwargs: dict[str, Any]) -> dict[str, Any]:
        out = answer(prompts, [ids], [[-0.5] * len(ids)])
        break_it(out)
        return out

    with pytest.raises(VLLMProtocolError, match=message):
        sample(constraint, make)


def test_tokens_after_eos_early_stops_and_commands_outside_the_grammar_are_refused(
        constraint, command) -> None:
    after = command("EXIT") + command("EXIT")[:1]
    with pytest.raises(VLLMProtocolError, match="tokens after the EOS"):
        sample(constraint, lambda p, kw: answer(p, [after], [[-1.0] * len(after)]))
    early = command("REPL 2 >>>b = 3")[:4]
    with pytest.raises(VLLMProtocolError, match="stopped a command after 4 of 16 tokens"):
        sample(constraint, lambda p, kw: answer(p, [early], [[-1.0] * len(early)]))
    outside = command("DELL 9")  # the file has 3 lines
    with pytest.raises(VLLMProtocolError, match="outside its turn grammar"):
        sample(constraint, lambda p, kw: answer(p, [outside], [[-1.0] * len(outside)]))


class Info:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    def get_server_info(self) -> dict[str, Any]:
        return self.info


def server_info(mode: str = "processed_logprobs", max_len: int = 4096,
                backend: str | None = "guidance") -> dict[str, Any]:
    info: dict[str, Any] = {"model_config": {"logprobs_mode": mode, "max_model_len": max_len}}
    if backend is not None:
        info["structured_outputs_config"] = {"backend": backend}
    return info


def test_check_server_refuses_settings_that_bias_or_cut_the_rollouts(caplog) -> None:
    check_server(Info(server_info()), max_episode_tokens=4096)
    with pytest.raises(VLLMServerError, match=r"--logprobs-mode raw_logprobs.*processed_logprobs"):
        check_server(Info(server_info(mode="raw_logprobs")), max_episode_tokens=2048)
    with pytest.raises(VLLMServerError, match=r"max_model_len is 1024 tokens, below "
                       r"max_episode_tokens=2048.*--max-model-len 2048"):
        check_server(Info(server_info(max_len=1024)), max_episode_tokens=2048)
    with pytest.raises(VLLMServerError, match=r"backend is 'xgrammar'.*backend guidance"):
        check_server(Info(server_info(backend="xgrammar")), max_episode_tokens=2048)
    check_server(Info(server_info(backend=None)), max_episode_tokens=2048)
    assert "does not report its structured-output backend" in caplog.text


def test_from_trainer_needs_server_mode_and_checks_the_server(constraint) -> None:
    accelerator = SimpleNamespace(is_main_process=True, num_processes=1)
    off = SimpleNamespace(accelerator=accelerator, vllm_mode="server")
    with pytest.raises(VLLMServerError, match="use_vllm: true and vllm_mode: server"):
        VLLMServerSampler.from_trainer(off, constraint, max_episode_tokens=100)
    client = Info(server_info(max_len=64))
    trainer = SimpleNamespace(accelerator=accelerator, vllm_mode="server",
                              vllm_generation=SimpleNamespace(vllm_client=client))
    with pytest.raises(VLLMServerError, match="max_model_len is 64"):
        VLLMServerSampler.from_trainer(trainer, constraint, max_episode_tokens=100)
    sampler = VLLMServerSampler.from_trainer(trainer, constraint, max_episode_tokens=64)
    assert sampler.client is client
    assert sampler.accelerator is None


def test_trls_client_sends_ids_and_the_grammar_and_parses_the_answer(monkeypatch, constraint,
                                                                      command) -> None:
    from trl.generation import vllm_client  # noqa: PLC0415

    monkeypatch.setattr(vllm_client, "is_vllm_available", lambda: True)  # only for __init__
    ids = command("DELL 2")

    def complete(body: dict[str, Any]) -> tuple[list[list[int]], list[list[float]]]:
        return [ids] * len(body["prompt"]), [[-0.25] * len(ids)] * len(body["prompt"])

    with FakeServer(complete) as server:
        client = vllm_client.VLLMClient(base_url=server.url)
        sampler = VLLMServerSampler(client, constraint)
        rows = [ROW, [8, 9]]
        turns = sampler.sample(rows, [GRAMMAR, GRAMMAR], RolloutConfig(max_new_tokens=12,
                                                                       temperature=0.7))
    assert turns == [(ids, [-0.25] * len(ids), True)] * 2
    [body] = server.bodies
    assert body["prompt"] == rows  # token ids, never text
    assert body["return_token_ids"] is True
    assert body["structured_outputs"] == {"grammar": GRAMMAR}
    assert body["stop_token_ids"] == list(constraint.eos_token_ids)
    assert (body["n"], body["max_tokens"], body["logprobs"], body["temperature"]) == (1, 12, 0, 0.7)


def test_several_processes_play_until_every_process_is_done(embedded_cache, tokenizer) -> None:
    # two CPU processes (torchrun, gloo; accelerate reads its variables): process 0
    # holds the client; each plays episodes of its own (or none) and joins every
    # turn until both are done
    script = Path(__file__).with_name("vllm_processes.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    out = embedded_cache / "vllm-processes"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(script), str(embedded_cache), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for case in ("main-plays", "other-plays", "both-play"):
        records = [json.loads((out / f"{case}-{rank}.json").read_text()) for rank in (0, 1)]
        for record in records:
            assert record["processes"] == 2
            for episode in record["episodes"]:
                assert episode["tokens"] == episode["mask"] == episode["logprobs"]
                assert episode["turns"] >= 1
            # greedy: each process got its own rows' answers back, the episodes it
            # plays alone with generate
            assert record["same_as_alone"] is True
        requests = records[0]["requests"]
        turns = max((e["turns"] for r in records for e in r["episodes"]), default=0)
        assert 1 <= requests <= turns * 4  # requests only from process 0
        assert records[1]["requests"] == 0
    for case, error in (("server-fails", "RuntimeError: server down"),
                        ("check-fails", "VLLMServerError: the vLLM server runs with "
                                        "--logprobs-mode raw_logprobs")):
        for rank in (0, 1):  # raised on every process, none left waiting
            record = json.loads((out / f"{case}-{rank}.json").read_text())
            assert record["error"].startswith(error)


def test_no_toolthink_module_imports_vllm() -> None:
    # vLLM is TRL's business (it imports it when installed); toolthink only talks to
    # the client TRL builds, so toolthink works and is tested without vLLM
    import ast  # noqa: PLC0415

    offenders = []
    for path in sorted((ROOT / "src" / "toolthink").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "vllm"]
    assert offenders == []


def test_a_request_that_hangs_is_an_error_not_a_hang(constraint) -> None:
    import time  # noqa: PLC0415

    def make(prompts: list[list[int]], kwargs: dict[str, Any]) -> dict[str, Any]:
        time.sleep(2)
        return answer(prompts, [[]], [[]])

    sampler = VLLMServerSampler(Canned(make), constraint, request_timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(VLLMServerError, match=r"did not answer within 0 s \(1 prompts"):
        sampler.sample([ROW], [GRAMMAR], CONFIG)
    assert time.perf_counter() - started < 1.5  # did not wait for the hung request


def test_the_sampler_keeps_its_answer_in_row_order(constraint, command) -> None:
    # rows with different grammars go in different requests; answers return in row order
    grammars = [GRAMMAR, turn_grammar(lines=["x = 1"]), GRAMMAR]
    rows = [[1], [2], [3]]
    by_prompt = {1: command("DELL 3"), 2: command("DELL 1"), 3: command("EXIT")}

    def make(prompts: list[list[int]], kwargs: dict[str, Any]) -> dict[str, Any]:
        completions = [by_prompt[p[0]] for p in prompts]
        return answer(prompts, completions, [[-1.0] * len(c) for c in completions])

    turns = VLLMServerSampler(Canned(make), constraint).sample(rows, grammars, CONFIG)
    assert [t[0] for t in turns] == [by_prompt[1], by_prompt[2], by_prompt[3]]
    assert torch.tensor([len(t[1]) for t in turns]).tolist() == [len(t[0]) for t in turns]


class NoGenerate(torch.nn.Module):
    """The trainer's policy when a server samples: its generate must not run."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the policy sampled locally although the trainer uses vLLM")


def test_the_rollout_samples_on_the_server_when_the_trainer_uses_vllm(
        tiny_model, tokenizer, constraint, tmp_path) -> None:
    from collections import defaultdict  # noqa: PLC0415

    from toolthink.training.rl_rollout import EpisodeRollout  # noqa: PLC0415

    client = ModelClient(tiny_model, constraint, pad_of(tokenizer, constraint))
    client.get_server_info = server_info  # type: ignore[attr-defined]
    policy = NoGenerate(tiny_model)
    trainer = SimpleNamespace(
        use_vllm=True, vllm_mode="server", vllm_generation=SimpleNamespace(vllm_client=client),
        accelerator=SimpleNamespace(is_main_process=True, num_processes=1),
        model=policy, model_wrapped=policy, state=SimpleNamespace(global_step=0),
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    tasks = easy_tasks(2)
    with SandboxPool() as pool:
        rollout = EpisodeRollout(
            {t.task_id: t for t in tasks}, tokenizer, pool, EnvConfig(max_turns=2),
            RolloutConfig(max_new_tokens=8, max_total_tokens=4096),
            trajectories=tmp_path / "trajectories.jsonl",
        )
        out = rollout([t.task_id for t in tasks for _ in range(2)], trainer)
    assert isinstance(rollout.sampler, VLLMServerSampler)
    assert client.requests  # every command came from the server stand-in
    assert len(out["completion_ids"]) == 4
    for ids, mask, logprobs in zip(out["completion_ids"], out["env_mask"], out["logprobs"],
                                   strict=True):
        assert len(ids) == len(mask) == len(logprobs)
    assert trainer._metrics["train"]["time/generation"]
