"""Records that the trainers hand back, and the one exception that stops a training with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class TrainingStopped(Exception):
    """A training that cannot go on (non-finite reward or parameters, time budget); the message is the reason."""


@dataclass(frozen=True)
class Policy:
    """A trained Gaussian policy: MLP parameters plus the observation normalizer it was trained with."""

    params: dict
    obs_mean: np.ndarray
    obs_var: np.ndarray

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.obs_mean) / np.sqrt(self.obs_var + 1e-8), -10, 10).astype(np.float32)

    def save(self, path: Path) -> None:
        flat = {"obs_mean": self.obs_mean, "obs_var": self.obs_var, "log_std": self.params["log_std"]}
        for part in ("policy", "value"):
            for i, layer in enumerate(self.params[part]):
                flat[f"{part}.{i}.w"], flat[f"{part}.{i}.b"] = layer["w"], layer["b"]
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **flat)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> Policy:
        flat = np.load(path)
        params = {"log_std": flat["log_std"]}
        for part in ("policy", "value"):
            count = sum(1 for k in flat.files if k.startswith(f"{part}.") and k.endswith(".w"))
            params[part] = [{"w": flat[f"{part}.{i}.w"], "b": flat[f"{part}.{i}.b"]} for i in range(count)]
        return Policy(params=params, obs_mean=flat["obs_mean"], obs_var=flat["obs_var"])


@dataclass(frozen=True)
class TrainOutcome:
    policy: Policy
    curve: list  # checkpoints: dicts of step, episode_return, episode_length, fitness, terms, losses, wall_s
    steps: int
    wall_s: float
    steps_per_s: float
