"""What a run cost, summed from its records (derived, never stored): LLM requests, tokens and dollars, the candidates
trained, env steps and CPU/GPU seconds of the search and of the confirmation from scratch.

Why derived: every number already lives in a record the run wrote (usage*.json per round, candidate.json per
candidate, final/<id>/summary.json per confirmed candidate), so a card, `bench quality` and `show` read the same sum
and a resumed run needs no bookkeeping of its own. Runs from before CPU seconds were recorded count 0 for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardsmith.records import Candidate
from rewardsmith.runs.store import RunStore, read_json


@dataclass(frozen=True)
class RunCost:
    llm_requests: int  # distinct logical requests (a retry is not another request), the judge's included
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    candidates_trained: int  # search candidates that trained (evaluated, or cut short after training)
    search_env_steps: int  # every search training's own steps, extra seeds and halving rungs included
    confirm_env_steps: int  # the confirmation from scratch
    cpu_s: float  # CPU seconds of every training and its evaluation, search and confirmation
    gpu_s: float  # wall seconds of the trainings whose network updates ran on a GPU (0 on a CPU run)

    @property
    def env_steps(self) -> int:
        return self.search_env_steps + self.confirm_env_steps

    def to_dict(self) -> dict[str, float | int]:
        return {"llm_requests": self.llm_requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd,
                "candidates_trained": self.candidates_trained, "search_env_steps": self.search_env_steps,
                "confirm_env_steps": self.confirm_env_steps, "env_steps": self.env_steps, "cpu_s": self.cpu_s,
                "gpu_s": self.gpu_s}


def run_cost(store: RunStore) -> RunCost:
    usages = [read_json(p) for gen in store.generations() for p in store.usage_paths(gen)]
    trained = [c for gen in store.generations() for c in store.candidates(gen) if c.train is not None]
    on_gpu = any(c.train is not None and c.train.device == "gpu" for c in trained)
    confirm_steps, confirm_cpu, confirm_wall = _confirmation(store)
    search_cpu = sum(_summed(c, "cpu_s") for c in trained)
    search_wall = sum(_summed(c, "wall_s") for c in trained)
    return RunCost(
        llm_requests=sum(int(u.get("requests") or 0) for u in usages),
        prompt_tokens=sum(int(u.get("prompt_tokens") or 0) for u in usages),
        completion_tokens=sum(int(u.get("completion_tokens") or 0) for u in usages),
        cost_usd=sum(float(u.get("cost_usd") or 0.0) for u in usages),
        candidates_trained=len(trained),
        search_env_steps=int(sum(_summed(c, "steps") for c in trained)),
        confirm_env_steps=confirm_steps,
        cpu_s=search_cpu + confirm_cpu,
        gpu_s=search_wall + confirm_wall if on_gpu else 0.0)


def _summed(cand: Candidate, field: str) -> float:
    """A candidate's own training `field` (steps, cpu_s, wall_s) over all its seeds (its seeds hold its first
    training too); not what it inherited: that was its parent's cost."""
    if cand.seeds:
        return sum(getattr(s, field) for s in cand.seeds)
    return getattr(cand.train, field) if cand.train is not None else 0


def _confirmation(store: RunStore) -> tuple[int, float, float]:
    """(env steps, CPU seconds, wall seconds) of the confirmation's seeds, from RUN/final/<id>/summary.json."""
    steps, cpu, wall = 0, 0.0, 0.0
    folder = store.final_dir()
    for path in sorted(folder.glob("*/summary.json")) if folder.is_dir() else ():
        for seed in read_json(path).get("seeds") or ():
            steps += int(seed.get("steps") or 0)
            cpu += float(seed.get("cpu_s") or 0.0)
            wall += float(seed.get("wall_s") or 0.0)
    return steps, cpu, wall
