"""The run's LLM spending cap (--max-cost) and its response cache.

Before each HTTP request the client reserves the request's worst case: its prompt tokens (counted offline, images
included, plus a margin for other tokenizers) at litellm's input price, plus the output cap (--max-tokens, else
the model's largest output) times the number of choices at litellm's output price. A request whose worst case
would take the run past the cap is not sent: CostCapReached stops the run cleanly. After the answer the
reservation becomes what litellm says the answer cost; a failed request costs nothing.

The cache keeps every successful response under a key made of the request (model, server, messages, settings)
and its place in the run (generation, round, model, choice slot), so a run that is resumed after it stopped
mid-round (Ctrl-C, kill, the cost cap) replays the answers it already paid for instead of asking again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.errors import Stopped, UserError

# Must precede any litellm import: otherwise importing it fetches a model cost map from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT_MARGIN = 1.1  # the offline count uses cl100k; other providers' tokenizers count somewhat differently
PROMPT_EXTRA_TOKENS = 16  # chat framing per request


class CostCapReached(Stopped):
    """The next LLM request could take the run past --max-cost; nothing was sent."""

    def __init__(self, spent: float, cap: float, needed: float):
        self.spent, self.cap, self.needed = spent, cap, needed
        super().__init__(f"spent ${spent:.4f} of --max-cost ${cap:.4f}; the next LLM request could cost up to "
                         f"${needed:.4f}")


@dataclass(frozen=True)
class Prices:
    input_per_token: float
    output_per_token: float
    max_output_tokens: int


def prices(model: str, max_tokens: int | None) -> Prices:
    """litellm's prices for the model; ValueError when it has none (a cap cannot be kept on an unknown price)."""
    import litellm

    info: dict[str, Any]
    try:
        info = dict(litellm.get_model_info(model))
    except Exception:  # litellm raises several types for a model it has not mapped
        info = {}
    input_price, output_price = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    cap = max_tokens or info.get("max_output_tokens") or info.get("max_tokens")
    if input_price is None or output_price is None:
        raise UserError(f"--max-cost needs the price of --model {model!r}, and litellm has none; drop --max-cost to "
                         "run without a cap, or use a model litellm prices (e.g. openai/gpt-4o-mini)")
    if not cap:
        raise UserError(f"--max-cost needs an output cap for --model {model!r}, and litellm knows none; "
                         "give --max-tokens")
    return Prices(float(input_price), float(output_price), int(cap))


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    import litellm

    return int(litellm.token_counter(model="", messages=messages))  # offline: no tokenizer download


def worst_case_usd(price: Prices, messages: list[dict[str, Any]], n: int) -> float:
    tokens = math.ceil(prompt_tokens(messages) * PROMPT_MARGIN) + PROMPT_EXTRA_TOKENS
    return tokens * price.input_per_token + n * price.max_output_tokens * price.output_per_token


class Budget:
    """What the run has spent and may still spend; shared by a round's concurrent requests."""

    def __init__(self, cap: float | None, spent: float, model_prices: dict[str, Prices] | None = None):
        """model_prices: each model's Prices (see prices()); needed when there is a cap."""
        self.cap, self.spent, self._reserved = cap, spent, 0.0
        self._prices = dict(model_prices or {})
        self._lock = threading.Lock()

    def worst_case(self, model: str, messages: list[dict[str, Any]], n: int) -> float:
        """The most a request for n choices could cost; 0 without a cap (nothing to keep under)."""
        if self.cap is None:
            return 0.0
        return worst_case_usd(self._prices[model], messages, n)

    def reserve(self, amount: float) -> None:
        with self._lock:
            if self.cap is not None and self.spent + self._reserved + amount > self.cap:
                raise CostCapReached(self.spent + self._reserved, self.cap, amount)
            self._reserved += amount

    def settle(self, reserved: float, cost: float) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += cost


class ResponseCache:
    """Successful responses of one round of one model, on disk (one JSON file per request)."""

    def __init__(self, folder: Path, scope: str):
        self.folder, self.scope = Path(folder), scope

    def key(self, request: dict[str, Any], slot: str) -> str:
        material = json.dumps({"scope": self.scope, "slot": slot, "request": request}, sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):  # missing, or cut short by a crash: ask again
            return None
        return data if isinstance(data, dict) and "response" in data else None

    def put(self, key: str, response: dict[str, Any], cost_usd: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{key}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"response": response, "cost_usd": cost_usd}, default=str))
        os.replace(tmp, path)


def spent_usd(log_dirs: list[Path]) -> float:
    """What a run has paid for LLM answers: the cost of every logged successful attempt that was not a cache hit."""
    total = 0.0
    for folder in log_dirs:
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and not record.get("cached") and record.get("cost_usd"):
                total += float(record["cost_usd"])
    return total
