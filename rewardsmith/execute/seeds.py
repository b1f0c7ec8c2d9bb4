"""Train one reward on several seeds and summarize: `rewardsmith train`, and the final evaluation of a run's best
candidate (Eureka's multi-seed re-evaluation of the winner) use this same code."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.events import Report, SeedFinished
from rewardsmith.execute.executors import Executor
from rewardsmith.execute.sandboxed import TrainReport, TrainRequest, train_in_sandbox, train_together
from rewardsmith.records import EVAL_SEED
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.train.trainers import trainer as plug


@dataclass(frozen=True)
class SeedResult:
    seed: int
    status: JobStatus  # OK, or how its training failed (its reason says why)
    reason: str | None
    fitness: float | None
    success_rate: float | None
    return_mean: float | None
    steps: int | None
    wall_s: float | None
    episode_scores: tuple[float | None, ...] = ()  # each evaluation episode's task score
    cpu_s: float = 0.0  # as TrainResult.cpu_s

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.OK


@dataclass(frozen=True)
class MultiSeedSummary:
    seeds: tuple[SeedResult, ...]

    def _values(self, field: str) -> np.ndarray:
        values = [getattr(r, field) for r in self.seeds if r.ok and getattr(r, field) is not None]
        return np.asarray(values, dtype=np.float64)

    def mean_std(self, field: str) -> tuple[float, float] | None:
        values = self._values(field)
        return (float(values.mean()), float(values.std())) if values.size else None

    def to_dict(self) -> dict:
        return {"seeds": [dataclasses.asdict(r) for r in self.seeds],
                **{f"{f}_mean_std": self.mean_std(f) for f in ("fitness", "success_rate", "return_mean")}}

    @classmethod
    def from_dict(cls, data: dict) -> MultiSeedSummary:
        """A summary.json read back (the means are derived again from the seeds)."""
        return cls(tuple(SeedResult(**{**seed, "status": JobStatus(seed["status"]),
                                       "episode_scores": tuple(seed.get("episode_scores") or ())})
                         for seed in data["seeds"]))


def train_seeds(env: EnvSpec, task_text: str, source: str, train_cfg: TrainConfig, seeds: list[int],
                out_dir: Path, report: Report, trainer: str = "native",
                executor: Executor | None = None) -> MultiSeedSummary:
    """The reward trained on each seed: one after the other, or through `executor` (--parallel trains two seeds at
    once, --executor ray on the cluster); with the population trainer, all seeds together as one population,
    evaluated on the first seed's evaluation episodes. A run's confirmation, several rewards at once, sends all their
    seeds through its executor as one batch instead (execute/confirm.py, with seed_requests and summarized)."""
    requests = seed_requests(env, task_text, source, train_cfg, seeds, out_dir, trainer)

    def one_by_one() -> Iterator[TrainReport]:  # progress events carry the request's key ("seed 3") as their id
        for request in requests:
            yield train_in_sandbox(request, report)

    if plug(trainer).together:
        together = [dataclasses.replace(r, group_dir=out_dir / "population") for r in requests]
        reports: Iterator[TrainReport] = iter(train_together(together, report))
    elif executor is not None:  # its reports come as the trainings end: put back in seed order
        finished = {done.key: done for done in executor.run(requests, report)}
        reports = iter([finished[request.key] for request in requests])
    else:
        reports = one_by_one()
    return summarized(seeds, reports, report)


def seed_requests(env: EnvSpec, task_text: str, source: str, train_cfg: TrainConfig, seeds: list[int],
                  out_dir: Path, trainer: str = "native", label: str = "") -> list[TrainRequest]:
    """One training request per seed, keyed "seed S" (`label` before it where several rewards train at once)."""
    return [TrainRequest(f"{label}seed {seed}", env.name, task_text, source, dataclasses.replace(train_cfg, seed=seed),
                         out_dir / f"seed_{seed}", trainer, EVAL_SEED + seed) for seed in seeds]


def summarized(seeds: list[int], reports: Iterable[TrainReport], report: Report) -> MultiSeedSummary:
    """The seeds' trainings (in seed order) as one summary, each seed reported as it is summed up."""
    results = []
    for seed, outcome in zip(seeds, reports, strict=True):
        if not outcome.ok or outcome.evaluation is None or outcome.train is None:
            failed = outcome.status if not outcome.ok else JobStatus.FAILED  # ok, but it brought back nothing
            results.append(SeedResult(seed, failed, outcome.reason, None, None, None, None, None))
            continue
        evaluation, train = outcome.evaluation, outcome.train
        results.append(SeedResult(seed, JobStatus.OK, None, evaluation.fitness_mean, evaluation.success_rate,
                                  evaluation.return_mean, train.steps, train.wall_s, evaluation.episode_scores,
                                  train.cpu_s))
        done = results[-1]
        report(SeedFinished(done.seed, done.status, done.reason, done.fitness, done.success_rate, done.return_mean,
                            done.steps, done.wall_s, None if outcome.key == f"seed {seed}" else outcome.key))
    return MultiSeedSummary(tuple(results))
