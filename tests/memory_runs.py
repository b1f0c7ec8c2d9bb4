"""Finished cart-pole runs for the memory's tests, made through the records the run writes (no training): the answer,
its confirmation from scratch as result.json holds it, and optionally `ablate`'s table of it."""

from __future__ import annotations

from pathlib import Path

from builders import evaluated

from rewardsmith.config import RunConfig
from rewardsmith.evolve import EvolveResult
from rewardsmith.execute.ablate import Ablation, Interval, Row, Verdict
from rewardsmith.execute.confirm import Confirmation
from rewardsmith.execute.seeds import MultiSeedSummary, SeedResult
from rewardsmith.records import Choice
from rewardsmith.runs.store import RunStore, write_record
from rewardsmith.sandbox.protocol import JobStatus

STEPS = 8192


def confirmation(seed_scores: list[list[float]]) -> MultiSeedSummary:
    return MultiSeedSummary(tuple(
        SeedResult(seed=1 + i, status=JobStatus.OK, reason=None, fitness=sum(s) / len(s), success_rate=None,
                   return_mean=50.0, steps=STEPS, wall_s=1.0, episode_scores=tuple(s)) for i, s in
        enumerate(seed_scores)))


def finished_run(out: Path, task: str, seed_scores: list[list[float]], name: str | None = None,
                 confirmed: bool = True) -> tuple[RunStore, dict]:
    """A finished run of `task` whose answer g0c00 was confirmed on len(seed_scores) fresh seeds with those episode
    scores (`confirmed` False: --final-seeds 0); returns the store and its result.json as written."""
    store = RunStore.create(out, name or f"20260101-000000-cartpole-{task}", RunConfig(env="cartpole", task=task,
                                                                                       train_steps=STEPS))
    answer = evaluated(0, 0, 0.9)
    store.save_candidate(answer)
    summary = confirmation(seed_scores)
    choice = Choice(answer.id, (answer.id,), {answer.id: 1.0}, (answer.id,), {answer.id: len(seed_scores)}, True,
                    {answer.id: "the run's own line"}, "the rule")
    result = EvolveResult(answer, 1, Confirmation({answer.id: summary}, choice, answer) if confirmed else None,
                          choice, answer).to_dict()
    store.save_result(result)
    return store, store.load_result() or {}


def ablated(store: RunStore, effects: dict[str, tuple[float, float, float, Verdict, str]]) -> None:
    """`ablate`'s table of g0c00: term -> (effect, low, high, verdict, words) of its removal."""
    full = Row("full", None, 1.0, 2, Interval(0.9, 0.85, 0.95), None, None, None, "baseline")
    rows = [Row(f"-{term}", term, 0.0, 2, Interval(0.9 + value, 0.8, 0.95), None, Interval(value, low, high), verdict,
                words) for term, (value, low, high, verdict, words) in effects.items()]
    ablation = Ablation("g0c00", "cartpole", store.config().task, STEPS, (1, 2), "native", (full, *rows), (), 8, 1.0)
    write_record(store.ablation_path("g0c00"), ablation.to_dict())
