"""Per-step reward evaluation with guards, and per-term episode statistics (Eureka's "reward reflection" data)."""

from __future__ import annotations

import numpy as np

from rewardsmith.program.load import LoadedReward
from rewardsmith.train.policy import TrainingStopped


def reward_step(env, task, reward: LoadedReward, sim, action: np.ndarray, step: int):
    """State view, reward terms and total reward of the batch after a step; stops on a non-finite term."""
    raw = sim.raw()
    s = env.state_view(raw.qpos, raw.qvel, sim.sensors(), np)
    terms = reward.reward_terms(s, action, np)
    total = np.zeros(sim.num_envs)
    for name, scale in reward.scales.items():
        value = np.broadcast_to(np.asarray(terms[name], dtype=np.float64), total.shape)
        if not np.all(np.isfinite(value)):
            bad = int(np.sum(~np.isfinite(value)))
            raise TrainingStopped(f"reward term {name!r} returned NaN/Inf in {bad} of {total.size} envs at step {step}")
        total += scale * value
    return total, s, terms


class EpisodeStats:
    """Accumulates per-env episode sums and summarizes finished episodes at each checkpoint."""

    def __init__(self, scales: dict[str, float], task):
        self.scales = dict(scales)
        self.episode_steps = task.episode_steps
        self.has_fitness = task.fitness is not None
        self._sums: dict[str, np.ndarray] | None = None
        self._finished: list[dict] = []

    def _zeros(self, n):
        keys = ["return", "length", "fitness", *(f"term:{k}" for k in self.scales)]
        return {k: np.zeros(n) for k in keys}

    def add_step(self, s, terms, total, task, ends: np.ndarray) -> None:
        n = total.shape[0]
        if self._sums is None:
            self._sums = self._zeros(n)
        sums = self._sums
        sums["return"] += total
        sums["length"] += 1
        if task.fitness is not None:
            sums["fitness"] += np.asarray(task.fitness(s, np), dtype=np.float64)
        for k, scale in self.scales.items():
            sums[f"term:{k}"] += scale * np.broadcast_to(np.asarray(terms[k], dtype=np.float64), total.shape)
        for i in np.flatnonzero(ends):
            self._finished.append({k: float(v[i]) for k, v in sums.items()})
            for v in sums.values():
                v[i] = 0.0

    def checkpoint(self, step: int) -> dict:
        """Means over the episodes finished since the last checkpoint (or the running ones if none finished)."""
        episodes = self._finished
        if not episodes and self._sums is not None:
            n = self._sums["return"].shape[0]
            episodes = [{k: float(v[i]) for k, v in self._sums.items()} for i in range(n)]
        self._finished = []
        mean = lambda key: float(np.mean([e[key] for e in episodes])) if episodes else float("nan")  # noqa: E731
        return {
            "step": step,
            "episodes": len(episodes),
            "episode_return": mean("return"),
            "episode_length": mean("length"),
            "fitness": mean("fitness") / self.episode_steps if self.has_fitness else None,
            "terms": {k: mean(f"term:{k}") for k in self.scales},  # scaled contribution per episode
        }
