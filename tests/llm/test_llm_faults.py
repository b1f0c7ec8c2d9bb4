"""LLM faults from a fault-injecting fake server: each is retried a bounded number of times (or not at all when
retrying cannot help), recorded in the request log and in the candidate, shown on the terminal, and the
generation goes on with what arrived. Transport errors stay out of the LLM's prompts; a reply cut by max_tokens
is the LLM's business and its next prompt says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from builders import GOOD
from fake_llm import FakeLLM

from rewardsmith.llm.client import LLMConfig, sample

MESSAGES = [{"role": "user", "content": "Write a reward for balancing."}]
PROGRAM = f"```python\n{GOOD}```"
CUT = "I reward an upright pole:\n```python\nSCALES = {\"upright\": 1.0, \"centred\": 0.2,"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>nginx</body></html>"
TRUNCATED = '{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assi'

# fault, then what the client must make of it: (requests sent, text arrives, words in the error, finish reason)
FAULTS = {
    "429 without Retry-After": ([{"status": 429}], 2, True, None, "stop"),
    "429 with Retry-After": ([{"status": 429, "headers": {"Retry-After": "0"}}], 2, True, None, "stop"),
    "500": ([{"status": 500}], 2, True, None, "stop"),
    "502": ([{"status": 502}], 2, True, None, "stop"),
    "503": ([{"status": 503}], 2, True, None, "stop"),
    "a hang past the timeout": ([{"delay_s": 3, "content": "late"}], 2, True, None, "stop"),
    "a truncated JSON body": ([{"raw": TRUNCATED}], 2, True, None, "stop"),
    "a body that is not JSON": ([{"raw": "upstream connect error or disconnect/reset before headers"}], 2, True,
                                None, "stop"),
    "an HTML error page": ([{"raw": HTML_502, "status": 502, "content_type": "text/html"}], 2, True, None, "stop"),
    "zero choices": ([{"choices": 0}], 1, False, "response had no choices", None),
    "a content filter, no text": ([{"content": None, "finish_reason": "content_filter"}], 1, False,
                                  "finish_reason=content_filter", "content_filter"),
    "a reply cut by max_tokens": ([{"content": CUT, "finish_reason": "length"}], 1, True, None, "length"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_retried_within_bounds_and_logged(name, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script, requests, has_text, error, finish = FAULTS[name]
    with FakeLLM(script + [PROGRAM] * 3) as fake:
        config = LLMConfig(model="openai/fake", api_base=fake.base_url, timeout_s=1.0, max_retries=2, backoff_s=0.01)
        (completion,) = sample(config, MESSAGES, 1, log_dir=tmp_path)
        sent = len(fake.requests)
    assert sent == requests
    assert (completion.text is not None) == has_text
    if error:
        assert error in completion.error
    else:
        assert completion.error is None
    assert completion.finish_reason == finish
    logs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"), key=lambda p: p.name[-6:])]
    assert len(logs) == requests, "every HTTP attempt is logged"
    if requests == 2:
        assert logs[0]["error"]["type"] and logs[0]["retried"] is True


def test_retries_are_bounded_and_the_failure_says_how_many(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLM([{"status": 503}] * 10) as fake:
        config = LLMConfig(model="openai/fake", api_base=fake.base_url, max_retries=3, backoff_s=0.01)
        (completion,) = sample(config, MESSAGES, 1, log_dir=tmp_path)
        sent = len(fake.requests)
    assert sent == 4 and completion.text is None
    assert completion.error.startswith("HTTP 503 after 3 retries")


SCRIPT = [
    # generation 0, round 1: a 503, retried, then a reply cut by max_tokens (no closed code block)
    {"status": 503}, {"content": CUT, "finish_reason": "length"},
    # round 2: a proxy's HTML page and a truncated body (both retried), then zero choices (not retried)
    {"raw": HTML_502, "status": 502, "content_type": "text/html"}, {"raw": TRUNCATED}, {"choices": 0},
    # round 3: a 429, retried, then a good program
    {"status": 429, "headers": {"Retry-After": "0"}}, PROGRAM,
    # generation 1, round 1: a request that hangs past --llm-timeout, retried, then a filtered reply (no text)
    {"delay_s": 6, "content": PROGRAM}, {"content": None, "finish_reason": "content_filter"},
    # round 2: a good program
    PROGRAM,
]


def test_a_run_survives_every_fault_and_keeps_transport_errors_out_of_prompts(tmp_path):
    out = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    with FakeLLM(SCRIPT) as fake:
        proc = subprocess.run(
            [sys.executable, "-m", "rewardsmith.cli", "evolve", "--env", "cartpole", "--task", "balance", "--final-seeds", "0", "--race-seeds", "0",
             "--model", "openai/fake", "--api-base", fake.base_url, "--iterations", "2", "--samples", "1",
             "--train-steps", "2048", "--no-video", "--no-halving", "--llm-timeout", "2", "--max-tokens", "64",
             "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
        sent = len(fake.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sent == len(SCRIPT), "one request per scripted reply: each fault retried or given up as planned"
    (run,) = out.iterdir()
    cands = {json.loads(p.read_text())["id"]: json.loads(p.read_text()) for p in run.glob("gen_*/cand_*/candidate.json")}
    status = {cid: c["status"] for cid, c in sorted(cands.items())}
    assert status == {"g0c00": "extract_failed", "g0c01": "llm_failed", "g0c02": "evaluated",
                      "g1c00": "llm_failed", "g1c01": "evaluated"}
    assert "cut at the output limit of 64 tokens (--max-tokens)" in cands["g0c00"]["reason"]
    assert "response had no choices" in cands["g0c01"]["reason"]
    assert "content_filter" in cands["g1c00"]["reason"]
    # shown to the user: each retry as it happens, each failed candidate with its reason
    for words in ("HTTP 503", "HTTP 502", "HTTP 429", "timeout", "g0c01 llm_failed: the LLM request failed"):
        assert words in proc.stdout, words
    # the request log holds every attempt, failed ones with their error
    logs = [json.loads(p.read_text()) for p in run.glob("gen_*/llm/*.json")]
    assert len(logs) == len(SCRIPT) and sum("error" in log for log in logs) == 5
    # the next prompt tells the LLM its reply was cut, and nothing about the transport
    prompt = json.dumps(json.loads((run / "gen_01" / "messages.json").read_text()))
    assert "cut at the output limit" in prompt
    for transport in ("HTTP 5", "HTTP 429", "Bad Gateway", "no choices", "timeout", "content_filter"):
        assert transport not in prompt, transport
