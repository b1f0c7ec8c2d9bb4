"""The sample stage: K reward programs for a generation, from the LLM or (LLM-free) as mutations of a program.

Each round of samples is saved before it is used (gen_XX/round_N.json), so a resumed run replays it instead of
asking (and paying) again.
"""

from __future__ import annotations

import dataclasses

from rewardsmith.config import RunConfig, split_samples
from rewardsmith.context import RunContext
from rewardsmith.events import LLMAsked
from rewardsmith.llm.budget import Budget, ResponseCache, prices, spent_usd
from rewardsmith.llm.mutate import mutated_programs
from rewardsmith.program.extract import extract_program
from rewardsmith.records import Candidate, Sample
from rewardsmith.runs.store import write_record


def sample(ctx: RunContext, gen: int, round_index: int, count: int, messages: list[dict[str, str]] | None,
           parent: Candidate | None, island: int | None = None) -> list[Sample]:
    """`island` (evolve --islands): the island sampled for, its rounds saved apart; the starting reward (--init,
    or the reference in the LLM-free mode) competes on island 0 only, so that it is trained once."""
    saved = ctx.store.load_samples(gen, round_index, island)
    if saved is not None:
        return saved
    samples = []
    first = gen == 0 and round_index == 0 and not island
    if first and ctx.cfg.init_source:  # the user's own reward competes (Eureka's init)
        samples.append(Sample(text=fenced(ctx.cfg.init_source), error=None, origin="init"))
        count -= 1
    if count > 0 and (ctx.cfg.llm_free or messages is None):
        samples += [Sample(text=fenced(src), error=None, origin="mutation")
                    for src in _mutations(ctx, gen, round_index, count, parent, island)]
    elif count > 0 and messages is not None:
        samples += _from_llm(ctx, gen, round_index, count, messages, island)
    samples = [dataclasses.replace(s, island=island or 0) for s in samples]
    ctx.store.save_samples(gen, round_index, samples, island)
    return samples


def _from_llm(ctx: RunContext, gen: int, round_index: int, count: int,
              messages: list[dict[str, str]], island: int | None = None) -> list[Sample]:
    """The round's samples split across the run's models (config.split_samples), each model asked once."""
    from rewardsmith.llm import client  # litellm takes seconds to import; the LLM-free mode never needs it

    cfg = ctx.cfg
    budget = run_budget(ctx)
    completions = []
    for index, (model, n) in enumerate(zip(cfg.models, split_samples(count, len(cfg.models)), strict=True)):
        if n == 0:
            continue
        config = client.LLMConfig(model=model, api_base=cfg.api_base_for(index), temperature=cfg.temperature,
                                  timeout_s=cfg.llm_timeout_s, max_tokens=cfg.max_tokens)
        ctx.report(LLMAsked(gen, round_index, n, model))
        key = f"g{gen}r{round_index}m{index}" + (f"i{island}" if island is not None else "")
        cache = ResponseCache(ctx.store.llm_cache_dir(gen), key)
        guards = client.Guards(budget=budget, cache=cache, on_retry=ctx.report)
        completions += client.sample(config, messages, n, log_dir=ctx.store.llm_log_dir(gen), guards=guards)
    by_model = {m: client.usage_totals([c for c in completions if c.model == m]) for m in cfg.models}
    usage = {**client.usage_totals(completions), "by_model": by_model}
    write_record(ctx.store.usage_path(gen, round_index, island), usage)
    return [Sample(text=c.text, error=c.error or _cut_note(c.finish_reason, cfg.max_tokens), origin="llm",
                   model=c.model) for c in completions]


def _cut_note(finish_reason: str | None, max_tokens: int | None) -> str | None:
    """Why a reply that arrived may be incomplete: the LLM's business (its next prompt says so), unlike transport
    errors. A program that still extracts and checks is used as it is."""
    if finish_reason == "length":
        limit = f" of {max_tokens} tokens (--max-tokens)" if max_tokens else ""
        return f"the reply was cut at the output limit{limit} before it ended; write a shorter reply"
    if finish_reason == "content_filter":
        return "the provider's content filter stopped the reply before it ended"
    return None


def run_budget(ctx: RunContext) -> Budget:
    """The run's spending so far (every paid answer in the LLM logs) under its --max-cost."""
    cfg = ctx.cfg
    model_prices = {m: prices(m, cfg.max_tokens) for m in cfg.models} if cfg.max_cost is not None else {}
    return Budget(cfg.max_cost, spent_usd(ctx.store.llm_log_dirs()), model_prices)


def check_llm(cfg: RunConfig) -> None:
    """ValueError in one line, before anything is written, for a model litellm cannot resolve or a cap that
    cannot be kept (a model without a price)."""
    if cfg.llm_free:
        return
    from rewardsmith.llm import client

    for index, model in enumerate(cfg.models):
        client.check_model(model, cfg.api_base_for(index))
        if cfg.max_cost is not None:
            prices(model, cfg.max_tokens)


def fenced(source: str) -> str:
    return f"```python\n{source.rstrip()}\n```\n"


def _mutations(ctx: RunContext, gen: int, round_index: int, count: int, parent: Candidate | None,
               island: int | None = None) -> list[str]:
    """Mutations of the parent's SCALES; in generation 0 the starting program (the user's --init reward, else the
    task's reference reward) competes unchanged unless it is already in the round as the init candidate (island 0
    only, with --islands: each island draws its own mutations from its own seed)."""
    init = ctx.cfg.init_source
    reference = init or ctx.env.reference_reward_path(ctx.task.name).read_text()
    ref_program = extract_program(fenced(reference))
    source = parent.source if parent and parent.source else reference
    scales = parent.scales if parent and parent.scales else ref_program.scales
    seed: int | list[int] = ctx.cfg.seed * 1000 + gen * 10 + round_index
    if island is not None:
        seed = [ctx.cfg.seed, gen, round_index, island]
    programs = mutated_programs(source, scales, count, seed, reference=ref_program.scales)
    if gen == 0 and round_index == 0 and not init and not island:  # the reference competes: evolution improves on it
        programs[0] = reference
    return programs
