"""Per-step reward evaluation with guards, and per-term episode statistics (Eureka's "reward reflection" data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch
from rewardsmith.env.task import Task
from rewardsmith.program.compose import compose
from rewardsmith.program.load import LoadedReward
from rewardsmith.program.terminate import LEARNED_END, LEARNED_TERMINATION
from rewardsmith.records import CurvePoint, term_key
from rewardsmith.train.policy import TrainingStopped

RETURN, LENGTH, FITNESS = "episode/return", "episode/length", "fitness"


@dataclass(frozen=True)
class StepReward:
    total: np.ndarray  # Σ SCALES[k] * terms[k], per env
    s: dict[str, Any]  # the state view after the step
    scaled: dict[str, np.ndarray]  # term -> SCALES[k] * term, per env
    raw: dict[str, Any]  # term -> the value reward_terms returned


def reward_step(env: EnvSpec, reward: LoadedReward, sim: NativeBatch, action: np.ndarray, step: int) -> StepReward:
    """Total reward, state view and terms of the batch after a step; stops on a non-finite term."""
    state = sim.raw()
    s = env.state_view(state.qpos, state.qvel, sim.sensors(), np)
    raw = reward.reward_terms(s, action, np)
    total, scaled = compose(reward.scales, raw, np, (sim.num_envs,))
    for name, value in scaled.items():
        if not np.all(np.isfinite(value)):
            bad = int(np.sum(~np.isfinite(value)))
            raise TrainingStopped(f"reward term {name!r} returned NaN/Inf in {bad} of {total.size} envs at step {step}")
    return StepReward(total, s, scaled, raw)


class EpisodeStats:
    """Accumulates per-env episode sums (keyed by the metric keys of rewardsmith.records) and summarizes the
    finished episodes at each checkpoint."""

    def __init__(self, scales: dict[str, float], task: Task):
        self.terms = list(scales)
        self.episode_steps = task.episode_steps
        self.fitness_fn = task.fitness
        self._sums: dict[str, np.ndarray] | None = None
        self._finished: list[dict[str, float]] = []

    def add_step(self, s: dict[str, Any], scaled: dict[str, np.ndarray], total: np.ndarray, ends: np.ndarray,
                 learned: np.ndarray | None = None) -> None:
        """`learned`: where the program's own termination ended an episode that the task's would not have (None:
        the program has none); it is 1 at most once per episode, at its end, so an episode's sum says whether it
        ended it."""
        n = total.shape[0]
        if self._sums is None:
            learns = [LEARNED_END] if learned is not None else []
            keys = [RETURN, LENGTH, FITNESS, *map(term_key, self.terms), *learns]
            self._sums = {k: np.zeros(n) for k in keys}
        sums = self._sums
        if learned is not None:
            sums[LEARNED_END] += learned
        sums[RETURN] += total
        sums[LENGTH] += 1
        if self.fitness_fn is not None:
            sums[FITNESS] += np.asarray(self.fitness_fn(s, np), dtype=np.float64)
        for k in self.terms:
            sums[term_key(k)] += scaled[k]
        for i in np.flatnonzero(ends):
            self._finished.append({k: float(v[i]) for k, v in sums.items()})
            for v in sums.values():
                v[i] = 0.0

    def checkpoint(self, step: int, wall_s: float, losses: dict[str, float | None]) -> CurvePoint:
        """Means over the episodes finished since the last checkpoint; where none finished, the return, task score
        and terms are the running episodes' sums so far (cut short by the checkpoint), while the episode length is
        None and `episodes` 0: a running episode's length is only how far it has got (128, 256, 384 ... on a task
        whose episodes never end early), not a length."""
        finished = self._finished
        episodes = finished
        if not episodes and self._sums is not None:
            n = self._sums[RETURN].shape[0]
            episodes = [{k: float(v[i]) for k, v in self._sums.items()} for i in range(n)]
        self._finished = []

        def mean(key: str, over: list[dict[str, float]] = episodes) -> float | None:
            value = float(np.mean([e[key] for e in over])) if over else float("nan")
            return value if np.isfinite(value) else None

        fitness = mean(FITNESS) if self.fitness_fn is not None else None
        # the share of the finished training episodes that the program's own termination ended
        extra = {LEARNED_TERMINATION: mean(LEARNED_END, finished)} if LEARNED_END in (self._sums or {}) else {}
        return CurvePoint(extra=extra,
            step=step, episodes=len(finished), episode_return=mean(RETURN), episode_length=mean(LENGTH, finished),
            fitness=None if fitness is None else fitness / self.episode_steps,
            terms={k: mean(term_key(k)) for k in self.terms}, losses=losses, wall_s=wall_s,
        )
