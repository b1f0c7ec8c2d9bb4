"""What a run will ask of its LLMs, estimated before anything is sent (`evolve --dry-run`): requests, tokens and, at
litellm's prices, dollars — per model, and for the vision judge.

What is known exactly: the first prompt (rendered and counted offline, as the client counts it), the samples per
generation and how they split across models (config.split_samples), whether a model takes `n` (one request for
all its samples) and the judge's requests (one look per generation; hybrid looks twice) with K pictures each.
What is assumed, and said so in the printed lines:
  - a reply is --max-tokens long when that cap is given, else REPLY_TOKENS (one reward program and a few lines
    of reasoning);
  - a follow-up prompt is the first one plus FOLLOW_UP_TOKENS (the results table and the two best programs);
  - every generation fills its K programs in one round (a program that fails the check costs another round);
  - a judge's request carries JUDGE_TEXT_TOKENS of text besides its pictures, and each reply JUDGE_REPLY_TOKENS.
A model litellm has no price for gets no dollar figure ("cost: unknown"), never a guess.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from rewardsmith.config import RunConfig, split_samples
from rewardsmith.llm.budget import prices, prompt_tokens

REPLY_TOKENS = 1500
FOLLOW_UP_TOKENS = 2 * REPLY_TOKENS + 600
JUDGE_TEXT_TOKENS = 600
JUDGE_REPLY_TOKENS = 400


@dataclass(frozen=True)
class Estimate:
    """One model's share of a run: requests, prompt and output tokens, and dollars (None: litellm has no price)."""

    role: str  # "LLM" or "judge"
    model: str
    requests: int
    prompt_tokens: int
    output_tokens: int
    usd: float | None

    def line(self) -> str:
        cost = f"${self.usd:.4f}" if self.usd is not None else "cost: unknown (litellm has no price for it)"
        return (f"{self.role} {self.model}: {self.requests} request(s), {self.prompt_tokens:,} prompt tokens, "
                f"~{self.output_tokens:,} output tokens: {cost}")


def llm_estimates(cfg: RunConfig, first_prompt_tokens: int) -> list[Estimate]:
    """Every model's part of cfg.iterations generations of cfg.samples programs."""
    from rewardsmith.llm.client import LLMConfig, supports_n

    reply = cfg.max_tokens or REPLY_TOKENS
    found = []
    for index, (model, share) in enumerate(zip(cfg.models, split_samples(cfg.samples, len(cfg.models)), strict=True)):
        if share == 0:
            continue
        # --islands: each island asks every model that has a share of the island's samples, once (or once a sample)
        asked = [split_samples(own, len(cfg.models))[index] for own in split_samples(cfg.samples, cfg.islands)]
        one_each = supports_n(LLMConfig(model=model, api_base=cfg.api_base_for(index)))
        per_generation = sum(1 if one_each else n for n in asked if n > 0)
        requests = per_generation * cfg.iterations
        follow_ups = (cfg.iterations - 1) * (first_prompt_tokens + FOLLOW_UP_TOKENS)
        prompts = per_generation * (first_prompt_tokens + follow_ups)
        output = share * reply * cfg.iterations
        found.append(Estimate("LLM", model, requests, prompts, output, _usd(model, prompts, output)))
    return found


def judge_estimate(cfg: RunConfig, looks: int, picture_size: tuple[int, int]) -> Estimate | None:
    """The judge's part: `looks` requests per generation (hybrid: 2), each with K pictures of `picture_size`
    (width, height) pixels, counted as the client counts images; None without a judge."""
    if not cfg.judge_model:
        return None
    per_request = JUDGE_TEXT_TOKENS + cfg.samples * _picture_tokens(picture_size)
    requests = looks * cfg.iterations
    output = requests * (cfg.max_tokens or JUDGE_REPLY_TOKENS)
    return Estimate("judge", cfg.judge_model, requests, requests * per_request, output,
                    _usd(cfg.judge_model, requests * per_request, output))


def _picture_tokens(size: tuple[int, int]) -> int:
    """The tokens one picture of `size` counts for: a blank JPEG of that size through the client's counter."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    with_picture = prompt_tokens([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    return with_picture - prompt_tokens([{"role": "user", "content": []}])


def _usd(model: str, prompt: int, output: int) -> float | None:
    try:  # prices() also wants an output cap (for --max-cost); the estimate needs only the per-token prices
        price = prices(model, max_tokens=1)
    except ValueError:  # litellm has no price for the model
        return None
    return prompt * price.input_per_token + output * price.output_per_token
