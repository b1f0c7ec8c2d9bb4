"""Train one reward on several seeds and summarize: `rewardsmith train`, and the final evaluation of a run's best
candidate (Eureka's multi-seed re-evaluation of the winner) use this same code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.train.sandboxed import TrainRequest, train_in_sandbox


@dataclass(frozen=True)
class SeedResult:
    seed: int
    status: str  # "ok" | "failed"
    reason: str | None
    fitness: float | None
    success_rate: float | None
    return_mean: float | None
    steps: int | None
    wall_s: float | None


@dataclass(frozen=True)
class MultiSeedSummary:
    seeds: tuple[SeedResult, ...]

    def _values(self, field: str) -> np.ndarray:
        values = [getattr(r, field) for r in self.seeds if r.status == "ok" and getattr(r, field) is not None]
        return np.asarray(values, dtype=np.float64)

    def mean_std(self, field: str) -> tuple[float, float] | None:
        values = self._values(field)
        return (float(values.mean()), float(values.std())) if values.size else None

    def to_dict(self) -> dict:
        return {"seeds": [dataclasses.asdict(r) for r in self.seeds],
                **{f"{f}_mean_std": self.mean_std(f) for f in ("fitness", "success_rate", "return_mean")}}


def train_seeds(env: EnvSpec, task_text: str, source: str, train_cfg: TrainConfig, seeds: list[int],
                out_dir: Path, report: Callable[[dict], None], trainer: str = "native") -> MultiSeedSummary:
    results = []
    for seed in seeds:
        cfg = dataclasses.replace(train_cfg, seed=seed)
        key = f"seed {seed}"
        on_progress = lambda m, key=key, cfg=cfg: report({"event": "train", "id": key, "total": cfg.steps, **m})  # noqa: E731
        request = TrainRequest(key, env.name, task_text, source, cfg, out_dir / f"seed_{seed}", trainer, 10_000 + seed)
        outcome = train_in_sandbox(request, on_progress)
        if not outcome.ok or outcome.evaluation is None or outcome.train is None:
            results.append(SeedResult(seed, "failed", outcome.reason, None, None, None, None, None))
            continue
        evaluation, train = outcome.evaluation, outcome.train
        results.append(SeedResult(seed, "ok", None, evaluation.fitness_mean, evaluation.success_rate,
                                  evaluation.return_mean, train.steps, train.wall_s))
        report({"event": "seed", **dataclasses.asdict(results[-1])})
    return MultiSeedSummary(tuple(results))
