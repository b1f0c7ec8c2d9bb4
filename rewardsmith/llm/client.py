"""LLM calls through litellm: n samples per prompt, bounded retries, token and cost accounting, a JSON log per request.

Any litellm model string works ("openai/gpt-4o-mini", "anthropic/...", "ollama/llama3", or "openai/<name>" plus
api_base for a local OpenAI-compatible server). A failed sample is a Completion with an error, never an exception:
the evolution loop keeps the other samples and the candidate ids stay stable.
"""

from __future__ import annotations

import os

# Must precede the litellm import: otherwise importing it fetches a model cost map from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import litellm
import openai

from rewardsmith.errors import UserError
from rewardsmith.events import LLMRetry, Report
from rewardsmith.llm.budget import Budget, ResponseCache

# litellm prints provider lists and help banners to stdout on every error; we report errors ourselves.
litellm.suppress_debug_info = True

# Transient failures worth another try; any other 5xx is too (_is_retryable). Connection failures surface as
# InternalServerError, 504 as Timeout, and unmapped codes such as Anthropic's 529 "overloaded" as a plain APIError.
_RETRYABLE = (
    litellm.RateLimitError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
    litellm.Timeout,
    litellm.APIConnectionError,
)
_MAX_RETRY_AFTER_S = 60.0  # a runaway Retry-After header must not stall a run for hours
_MAX_CONCURRENT_REQUESTS = 16  # when the provider has no `n`; beyond this we only collect 429s
_MAX_REASON_CHARS = 300  # Completion.error is one line for tables and prompts; the log holds the whole error
# The OpenAI client refuses to start without a key; local OpenAI-compatible servers ignore it.
_DUMMY_API_KEY = "none"
_SECRET_ENV_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
_MIN_SECRET_CHARS = 8  # shorter env values ("1", "true") would redact ordinary words from the logs


class LLMError(UserError):
    """A configuration error (no model, unknown provider, bad numbers). Per-sample failures are Completion.error."""


@dataclass(frozen=True)
class Guards:
    """What a run puts around its requests: the spending cap, the response cache, a listener for retries."""

    budget: Budget | None = None
    cache: ResponseCache | None = None
    on_retry: Report | None = None  # told of each failed attempt that will be retried (an LLMRetry)


@dataclass(frozen=True)
class LLMConfig:
    model: str
    api_base: str | None = None
    temperature: float = 1.0
    max_tokens: int | None = None
    timeout_s: float = 120.0  # per HTTP request
    max_retries: int = 4  # retries after the first attempt, only for transient errors (429, 5xx, timeouts)
    backoff_s: float = 1.0  # first backoff; doubles each retry, with jitter

    def __post_init__(self) -> None:
        if not self.model:
            raise LLMError("LLMConfig.model is empty; give a litellm model string such as 'openai/gpt-4o-mini'")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.backoff_s < 0:
            raise LLMError(f"need timeout_s > 0, max_retries >= 0, backoff_s >= 0; got {self}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise LLMError(f"max_tokens must be positive or None; got {self.max_tokens}")


@dataclass(frozen=True)
class Completion:
    """One sample. When a request returned several choices, its usage and cost are split evenly among them, so
    sums over completions equal what the provider billed; latency_s is the request's wall time, retries included."""

    index: int  # 0..n-1, stable position within the batch
    text: str | None  # None when this sample failed
    error: str | None  # one-line reason when the sample failed, else None
    model: str  # the configured litellm model string; the provider's own model name is in the log
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float  # 0.0 where litellm has no price for the model
    latency_s: float
    request_id: str | None = None  # the logical request (log files <request_id>-<attempt>.json); None if hand-made
    finish_reason: str | None = None  # why the choice ended: "stop", "length" (cut by max_tokens), "content_filter"


@dataclass(frozen=True)
class _Outcome:
    """One logical request after its retries: the response, or why it failed."""

    request_id: str
    latency_s: float  # wall time, retries included
    response: litellm.ModelResponse | None
    cost_usd: float
    error: str | None


def sample(config: LLMConfig, messages: list[dict], n: int, log_dir: Path | None = None,
           guards: Guards = Guards()) -> list[Completion]:
    """Returns exactly n Completions, in index order, failures included as records.

    One request with n choices where the provider supports `n`; choices it did not return (some servers ignore or
    cap `n`) are requested as single requests. Otherwise n concurrent single requests. Raises CostCapReached
    (llm/budget.py) instead of sending a request that could take the run past its cap."""
    if n < 1:
        raise LLMError(f"n must be at least 1; got {n}")
    _provider(config)  # fail on a bad model string before any request
    if n == 1 or not supports_n(config):
        return _sample_singles(config, messages, range(n), log_dir, guards)
    outcome = _request(config, messages, n, log_dir, guards, slot=f"n{n}")
    if outcome.response is None:
        return [_failed(config, outcome, index, outcome.error) for index in range(n)]
    completions = _from_choices(config, outcome, outcome.response, range(n))
    return completions + _sample_singles(config, messages, range(len(completions), n), log_dir, guards)


def check_model(model: str, api_base: str | None = None) -> None:
    """LLMError in one line when litellm cannot tell which provider serves `model`."""
    try:
        _provider(LLMConfig(model=model, api_base=api_base))
    except LLMError:
        raise LLMError(f"--model {model!r}: litellm knows no provider for it; write provider/model, e.g. "
                       "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3, or openai/<name> with "
                       "--api-base for a local server (providers: https://docs.litellm.ai/docs/providers)") from None


# where a provider's API lives when no --api-base is given (litellm's own default is None for these); a provider
# not listed here is not probed
_DEFAULT_BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1",
                  "gemini": "https://generativelanguage.googleapis.com", "openrouter": "https://openrouter.ai/api/v1"}
PROBE_TIMEOUT_S = 10.0


def probe_url(model: str, api_base: str | None = None) -> str | None:
    """The URL the reachability probe asks (GET BASE/models), or None where the server is not known."""
    _, provider, _, base = litellm.get_llm_provider(model, api_base=api_base)
    if provider == "openai" and not api_base:
        base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or base
    base = base or _DEFAULT_BASES.get(provider)
    return f"{base.rstrip('/')}/models" if base else None


def probe(model: str, api_base: str | None = None, flag: str = "--api-base") -> None:
    """Pre-flight: can this machine reach the model's server? One GET that asks for no completion and costs
    nothing; ANY HTTP answer (a 401 without a key, a 404 or 501 from a server without a model list) counts as
    reachable. LLMError (one line naming the URL and the error) when no answer comes: a refused connection, a name
    that does not resolve, a timeout."""
    import httpx

    url = probe_url(model, api_base)
    if url is None:
        return
    try:
        httpx.get(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as err:
        reason = _one_line(err) or type(err).__name__
        raise LLMError(f"cannot reach {model}'s server at {url}: {reason}; check {flag} (is the server running?) "
                       "and this machine's network") from None


def usage_totals(completions: Iterable[Completion]) -> dict[str, Any]:
    """Sums over completions; "requests" counts distinct logical requests (retries are not extra requests)."""
    completions = list(completions)
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "cost_usd": sum(c.cost_usd for c in completions),
        "requests": len({c.request_id for c in completions if c.request_id is not None}),
    }


def _provider(config: LLMConfig) -> tuple[str, str]:
    """(model name, provider) as litellm resolves them."""
    try:
        model, provider, _, _ = litellm.get_llm_provider(config.model, api_base=config.api_base)
    except (openai.APIError, ValueError) as exc:
        raise LLMError(f"litellm cannot resolve model {config.model!r}: {_one_line(exc)}") from exc
    return model, provider


def supports_n(config: LLMConfig) -> bool:
    """Whether one request can return several choices (a seam tests monkeypatch to force the concurrent path)."""
    model, provider = _provider(config)
    return "n" in (litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or [])


def _sample_singles(
    config: LLMConfig, messages: list[dict], indices: Sequence[int], log_dir: Path | None, guards: Guards
) -> list[Completion]:
    if not indices:
        return []
    workers = min(len(indices), _MAX_CONCURRENT_REQUESTS)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda i: _request(config, messages, 1, log_dir, guards, slot=f"single{i}"), indices))
    return [_single(config, outcome, index) for index, outcome in zip(indices, outcomes, strict=True)]


def _single(config: LLMConfig, outcome: _Outcome, index: int) -> Completion:
    if outcome.response is None:
        return _failed(config, outcome, index, outcome.error)
    completions = _from_choices(config, outcome, outcome.response, [index])
    return completions[0] if completions else _failed(config, outcome, index, "response had no choices")


def _request(config: LLMConfig, messages: list[dict], n: int, log_dir: Path | None, guards: Guards,
             slot: str) -> _Outcome:
    """One logical request with bounded retries and backoff; every HTTP attempt is logged. A response cached by an
    earlier, interrupted try of the same round is replayed (and logged as cached) instead of paid for again."""
    request_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    kwargs = _completion_kwargs(config, messages, n)
    params = {key: value for key, value in kwargs.items() if key not in ("messages", "api_key")}
    logged = {"request_id": request_id, "request": {"messages": messages, "params": params}}
    cache_key = None
    if guards.cache is not None:
        fingerprint = {k: v for k, v in params.items() if k not in ("timeout", "num_retries", "max_retries")}
        cache_key = guards.cache.key({**fingerprint, "messages": messages}, slot)
        hit = guards.cache.get(cache_key)
        if hit is not None:
            response = litellm.ModelResponse(**hit["response"])
            cost = float(hit.get("cost_usd") or 0.0)
            _log(log_dir, {**logged, "attempt": 0, "started_at": time.time(), "latency_s": 0.0, "cached": True,
                           "response": hit["response"], "usage": _usage(response), "cost_usd": cost})
            return _Outcome(request_id, 0.0, response, cost, None)
    first_started = time.monotonic()
    attempt = 0
    while True:
        reserved = guards.budget.worst_case(config.model, messages, n) if guards.budget else 0.0
        if guards.budget is not None:
            guards.budget.reserve(reserved)  # CostCapReached: nothing is sent
        started_at, started = time.time(), time.monotonic()
        timing = {"attempt": attempt, "started_at": started_at}
        try:
            response = litellm.completion(**kwargs)
        except openai.APIError as exc:  # every litellm exception derives from it
            if guards.budget is not None:
                guards.budget.settle(reserved, 0.0)  # a failed request is not billed
            retry = _is_retryable(exc) and attempt < config.max_retries
            error = {"type": type(exc).__name__, "status_code": getattr(exc, "status_code", None), "message": str(exc)}
            result = {"error": error, "retried": retry}
            _log(log_dir, {**logged, **timing, "latency_s": time.monotonic() - started, **result})
            if not retry:
                return _Outcome(request_id, time.monotonic() - first_started, None, 0.0, _reason(exc, attempt))
            wait_s = _backoff_s(config, attempt, exc)
            if guards.on_retry is not None:
                guards.on_retry(LLMRetry(config.model, attempt + 1, config.max_retries, wait_s,
                                         _reason(exc, attempt)))
            time.sleep(wait_s)
            attempt += 1
            continue
        cost = _cost_usd(response)
        if guards.budget is not None:
            guards.budget.settle(reserved, cost)
        dumped = response.model_dump()
        result = {"response": dumped, "usage": _usage(response), "cost_usd": cost}
        _log(log_dir, {**logged, **timing, "latency_s": time.monotonic() - started, **result})
        if guards.cache is not None and cache_key is not None:
            guards.cache.put(cache_key, dumped, cost)
        return _Outcome(request_id, time.monotonic() - first_started, response, cost, None)


def _is_retryable(exc: openai.APIError) -> bool:
    status = getattr(exc, "status_code", None)
    return isinstance(exc, _RETRYABLE) or (isinstance(status, int) and status >= 500)


def _completion_kwargs(config: LLMConfig, messages: list[dict], n: int) -> dict[str, Any]:
    _, provider = _provider(config)
    kwargs: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "temperature": config.temperature,
        "timeout": config.timeout_s,
        # Retries are ours alone: litellm's num_retries and the OpenAI client's max_retries (2 by default) would
        # multiply the attempts and hide them from the log.
        "num_retries": 0,
        "max_retries": 0,
    }
    if n > 1:
        kwargs["n"] = n
    if config.max_tokens is not None:
        kwargs["max_tokens"] = config.max_tokens
    if config.api_base:
        kwargs["api_base"] = config.api_base
        if provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = _DUMMY_API_KEY
    return kwargs


def _from_choices(
    config: LLMConfig, outcome: _Outcome, response: litellm.ModelResponse, indices: Sequence[int]
) -> list[Completion]:
    """Completions for the choices the response holds, at most one per index; fewer if it returned fewer."""
    choices = sorted(response.choices, key=lambda choice: choice.index)[: len(indices)]
    if not choices:
        return []
    usage = _usage(response)
    prompt_shares = _split(usage["prompt_tokens"], len(choices))
    completion_shares = _split(usage["completion_tokens"], len(choices))
    completions = []
    shares = zip(indices, choices, prompt_shares, completion_shares, strict=False)
    for index, choice, prompt_tokens, completion_tokens in shares:
        text = choice.message.content
        error = None if text is not None else f"choice has no text content (finish_reason={choice.finish_reason})"
        finish_reason = str(choice.finish_reason) if choice.finish_reason else None
        completions.append(
            Completion(
                index=index,
                text=text,
                error=error,
                model=config.model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=outcome.cost_usd / len(choices),
                latency_s=outcome.latency_s,
                request_id=outcome.request_id,
                finish_reason=finish_reason,
            )
        )
    return completions


def _failed(config: LLMConfig, outcome: _Outcome, index: int, reason: str | None) -> Completion:
    return Completion(
        index=index,
        text=None,
        error=reason,
        model=config.model,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        latency_s=outcome.latency_s,
        request_id=outcome.request_id,
    )


def _split(total: int, parts: int) -> list[int]:
    """Integer shares that add up to total exactly."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _usage(response: litellm.ModelResponse) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }


def _cost_usd(response: litellm.ModelResponse) -> float:
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown models raise one of several types (ModelNotMappedError, ValueError, ...); cost is
        return 0.0  # best-effort accounting and must never fail a sample


def _backoff_s(config: LLMConfig, attempt: int, exc: Exception) -> float:
    delay = config.backoff_s * 2**attempt * random.uniform(0.5, 1.5)  # jitter spreads out concurrent retries
    retry_after = _retry_after_s(exc)
    return delay if retry_after is None else max(delay, min(retry_after, _MAX_RETRY_AFTER_S))


def _retry_after_s(exc: Exception) -> float | None:
    """Seconds from a Retry-After header, when the error carries one in that form (the HTTP-date form is ignored)."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return float(headers.get("retry-after"))  # type: ignore[arg-type]  # None raises TypeError, caught below
    except (TypeError, ValueError):
        return None


def _reason(exc: openai.APIError, attempt: int) -> str:
    status = getattr(exc, "status_code", None)
    # litellm gives client-side timeouts status 408 although no server answered; call them what they are.
    kind = "timeout" if isinstance(exc, litellm.Timeout) else f"HTTP {status}" if status else type(exc).__name__
    tries = f"after {attempt} retries" if _is_retryable(exc) else "not retried"
    return _one_line(f"{kind} {tries}: {exc}")[:_MAX_REASON_CHARS]


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _log(log_dir: Path | None, record: dict[str, Any]) -> None:
    """Writes one HTTP attempt as <request_id>-<attempt>.json, atomically, with secrets redacted."""
    if log_dir is None:
        return
    text = _redact(json.dumps(record, indent=2, default=str))
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{record['request_id']}-{record['attempt']}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _redact(text: str) -> str:
    """Removes secret-looking environment values; error messages from some providers echo parts of the key."""
    for name, value in os.environ.items():
        if name.upper().endswith(_SECRET_ENV_SUFFIXES) and len(value) >= _MIN_SECRET_CHARS:
            text = text.replace(json.dumps(value)[1:-1], "[redacted]")
    return text
