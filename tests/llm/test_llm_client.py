"""rewardsmith.llm.client through the real litellm client against the scripted fake server in fake_llm.py."""

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fake_llm import FakeLLM

from rewardsmith.llm import client as llm
from rewardsmith.llm.client import Completion, LLMConfig, LLMError, sample, usage_totals

MESSAGES = [
    {"role": "system", "content": "You write reward functions."},
    {"role": "user", "content": "Write a reward for kneeling."},
]
PROMPT_WORDS = 9  # the fake counts tokens as words: 4 + 5
SECRET = "sk-secret-test"


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch):
    """Tests must not depend on the developer's key; local servers work without one."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def serve():
    """Starts FakeLLM servers and closes them after the test."""
    servers = []

    def start(script=(), **kwargs):
        server = FakeLLM(script, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def config_for(fake, **overrides):
    settings = {"model": "openai/fake", "api_base": fake.base_url, "backoff_s": 0.01, "timeout_s": 5.0}
    return LLMConfig(**{**settings, **overrides})


def log_records(log_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(log_dir.glob("*.json"))]


def test_n_samples_come_from_one_request(serve, tmp_path):
    fake = serve(["first", "second one", "third one here"])
    completions = sample(config_for(fake), MESSAGES, n=3, log_dir=tmp_path)

    assert [c.text for c in completions] == ["first", "second one", "third one here"]
    assert [c.index for c in completions] == [0, 1, 2]
    assert all(c.error is None and c.model == "openai/fake" for c in completions)
    assert len(fake.requests) == 1 and fake.requests[0]["n"] == 3
    assert fake.requests[0]["messages"] == MESSAGES
    assert len({c.request_id for c in completions}) == 1
    # The request's usage is split among its choices so sums stay exact.
    assert sum(c.prompt_tokens for c in completions) == PROMPT_WORDS
    assert sum(c.completion_tokens for c in completions) == 6
    assert len(log_records(tmp_path)) == 1


def test_choices_missing_from_a_short_batch_are_requested_singly(serve):
    fake = serve(["a", "b", "c"], max_choices=2)
    completions = sample(config_for(fake), MESSAGES, n=3)

    assert [c.text for c in completions] == ["a", "b", "c"]
    assert [c.index for c in completions] == [0, 1, 2]
    assert [request.get("n") for request in fake.requests] == [3, None]


def test_rate_limit_is_retried_after_retry_after_and_logged(serve, tmp_path):
    fake = serve([{"status": 429, "headers": {"Retry-After": "0.3"}}, "ok"])
    [completion] = sample(config_for(fake), MESSAGES, n=1, log_dir=tmp_path)

    assert completion.text == "ok" and completion.error is None
    assert completion.latency_s >= 0.3  # the header outweighs the 0.01 s backoff
    assert len(fake.requests) == 2
    failed, succeeded = log_records(tmp_path)
    assert failed["attempt"] == 0 and failed["error"]["status_code"] == 429 and failed["retried"]
    assert succeeded["attempt"] == 1 and succeeded["response"]["choices"][0]["message"]["content"] == "ok"
    assert failed["request_id"] == succeeded["request_id"] == completion.request_id
    assert not list(tmp_path.glob("*.tmp"))


def test_server_errors_beyond_max_retries_become_error_records(serve):
    # 529 (Anthropic's "overloaded") reaches us as a plain litellm.APIError; it is a 5xx, so it is retried too.
    fake = serve([{"status": 529}, {"status": 503}, {"status": 500}])
    completions = sample(config_for(fake, max_retries=2), MESSAGES, n=2)

    assert len(fake.requests) == 3
    assert [c.index for c in completions] == [0, 1]
    for completion in completions:
        assert completion.text is None
        assert completion.error.startswith("HTTP 500 after 2 retries: ")
        assert "\n" not in completion.error
        assert completion.prompt_tokens == completion.completion_tokens == 0


def test_bad_request_is_not_retried(serve):
    fake = serve([{"status": 400, "body": {"error": {"message": "context too long"}}}, "never served"])
    [completion] = sample(config_for(fake), MESSAGES, n=1)

    assert len(fake.requests) == 1
    assert completion.text is None
    assert completion.error.startswith("HTTP 400 not retried: ") and "context too long" in completion.error


def test_logs_hold_the_messages_and_never_the_key(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # Real providers echo (parts of) a rejected key in the error message.
    rejection = {"error": {"message": f"Incorrect API key provided: {SECRET}"}}
    fake = serve(["a reward", {"status": 401, "body": rejection}])
    sample(config_for(fake), MESSAGES, n=1, log_dir=tmp_path)
    [rejected] = sample(config_for(fake), MESSAGES, n=1, log_dir=tmp_path)

    assert rejected.error.startswith("HTTP 401 not retried")
    files = list(tmp_path.iterdir())
    assert len(files) == 2
    for path in files:
        text = path.read_text()
        assert SECRET not in text
        assert json.loads(text)["request"]["messages"] == MESSAGES


def test_usage_totals_sums_tokens_cost_and_requests(serve):
    fake = serve(["one two", "three"])
    completions = sample(config_for(fake), MESSAGES, n=2)
    assert usage_totals(completions) == {
        "prompt_tokens": PROMPT_WORDS,
        "completion_tokens": 3,
        "cost_usd": 0.0,  # litellm has no price for "fake"
        "requests": 1,
    }

    def made(index, request_id):
        return Completion(index, "x", None, "m", 10, 5, 0.25, 1.0, request_id)

    totals = usage_totals([made(0, "r1"), made(1, "r1"), made(2, "r2")])
    assert totals == {"prompt_tokens": 30, "completion_tokens": 15, "cost_usd": 0.75, "requests": 2}


def test_providers_without_n_get_concurrent_single_requests(serve, monkeypatch):
    monkeypatch.setattr(llm, "supports_n", lambda config: False)
    # Every reply waits until all four requests are in flight, which only concurrent requests achieve.
    all_in_flight = threading.Barrier(4)

    def reply(request):
        all_in_flight.wait(timeout=5)
        return "reward for " + request["messages"][-1]["content"]

    fake = serve(default=reply)
    completions = sample(config_for(fake, max_retries=0), MESSAGES, n=4)

    assert [c.index for c in completions] == [0, 1, 2, 3]
    assert all(c.text == "reward for Write a reward for kneeling." for c in completions)
    assert len(fake.requests) == 4 and all("n" not in request for request in fake.requests)
    assert usage_totals(completions)["requests"] == 4


def test_timeouts_are_retried_then_fail_cleanly(serve):
    fake = serve([{"delay_s": 3, "content": "too late"}] * 3)
    started = time.monotonic()
    [completion] = sample(config_for(fake, timeout_s=0.2, max_retries=2), MESSAGES, n=1)

    assert time.monotonic() - started < 3
    assert len(fake.requests) == 3
    assert completion.text is None and completion.error.startswith("timeout after 2 retries")


def test_a_timeout_then_success_returns_the_text(serve):
    fake = serve([{"delay_s": 3, "content": "too late"}, "in time"])
    [completion] = sample(config_for(fake, timeout_s=0.2), MESSAGES, n=1)
    assert completion.text == "in time"


def test_supports_n_follows_litellm():
    assert llm.supports_n(LLMConfig(model="openai/fake", api_base="http://127.0.0.1:1/v1"))
    assert not llm.supports_n(LLMConfig(model="ollama/llama3"))


def test_configuration_errors_raise():
    with pytest.raises(LLMError):
        LLMConfig(model="")
    with pytest.raises(LLMError):
        LLMConfig(model="openai/fake", max_retries=-1)
    with pytest.raises(LLMError, match="cannot resolve"):
        sample(LLMConfig(model="no-such-provider-model"), MESSAGES, n=1)
    with pytest.raises(LLMError):
        sample(LLMConfig(model="openai/fake"), MESSAGES, n=0)


def test_fake_repeats_the_last_text_and_fails_loudly_without_a_script(serve):
    fake = serve(["only"])
    assert [c.text for c in sample(config_for(fake), MESSAGES, n=2)] == ["only", "only"]

    empty = serve()
    request = urllib.request.Request(
        empty.base_url + "/chat/completions", data=json.dumps({"messages": MESSAGES}).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 500 and b"script exhausted" in raised.value.read()
