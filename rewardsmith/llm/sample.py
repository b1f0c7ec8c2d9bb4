"""The sample stage: K reward programs for a generation, from the LLM or (LLM-free) as mutations of a program.

Each round of samples is saved before it is used (gen_XX/round_N.json), so a resumed run replays it instead of
asking (and paying) again.
"""

from __future__ import annotations

import dataclasses

from rewardsmith.context import RunContext
from rewardsmith.llm.mutate import mutated_programs
from rewardsmith.program.extract import extract_program
from rewardsmith.records import Candidate, Sample
from rewardsmith.runs.store import read_json, write_json


def sample(ctx: RunContext, gen: int, round_index: int, count: int, messages: list[dict[str, str]] | None,
           parent: Candidate | None) -> list[Sample]:
    path = ctx.store.round_path(gen, round_index)
    if path.is_file():
        return [Sample.from_dict(entry) for entry in read_json(path)]
    if ctx.cfg.llm_free or messages is None:
        samples = [Sample(text=f"```python\n{src}```\n", error=None, origin="mutation")
                   for src in _mutations(ctx, gen, round_index, count, parent)]
    else:
        samples = _from_llm(ctx, gen, round_index, count, messages)
    write_json(path, [dataclasses.asdict(s) for s in samples])
    return samples


def _from_llm(ctx: RunContext, gen: int, round_index: int, count: int,
              messages: list[dict[str, str]]) -> list[Sample]:
    from rewardsmith.llm import client  # litellm takes seconds to import; the LLM-free mode never needs it

    assert ctx.cfg.model is not None
    config = client.LLMConfig(model=ctx.cfg.model, api_base=ctx.cfg.api_base, temperature=ctx.cfg.temperature)
    ctx.report({"event": "llm", "gen": gen, "round": round_index, "n": count})
    completions = client.sample(config, messages, count, log_dir=ctx.store.llm_log_dir(gen))
    write_json(ctx.store.usage_path(gen, round_index), client.usage_totals(completions))
    return [Sample(text=c.text, error=c.error, origin="llm", model=c.model) for c in completions]


def _mutations(ctx: RunContext, gen: int, round_index: int, count: int, parent: Candidate | None) -> list[str]:
    reference = ctx.env.reference_reward_path(ctx.task.name).read_text()
    ref_program = extract_program(f"```python\n{reference}```")
    source = parent.source if parent and parent.source else reference
    scales = parent.scales if parent and parent.scales else ref_program.scales
    seed = ctx.cfg.seed * 1000 + gen * 10 + round_index
    programs = mutated_programs(source, scales, count, seed, reference=ref_program.scales)
    if gen == 0 and round_index == 0:  # the reference itself competes, so evolution can only improve on it
        programs[0] = reference
    return programs
