"""What the trainers hand back (the trained Policy, the TrainOutcome), and the exception that stops a training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.records import CurvePoint


class TrainingStopped(RewardsmithError):
    """A training that cannot go on (non-finite reward or parameters, time budget); the message is the reason."""


def _activation(name: str):
    if name == "tanh":
        return np.tanh
    if name == "swish":
        return lambda x: x / (1.0 + np.exp(-x))
    raise ValueError(f"unknown activation {name!r}; valid: tanh, swish")


@dataclass(frozen=True)
class Policy:
    """A trained Gaussian policy: MLP parameters plus the observation normalizer it was trained with.

    The native trainer's policy is a tanh MLP whose output is the action mean (clipped to [-1, 1]); Brax's is a
    swish MLP whose first `nu` outputs are squashed by tanh. `act` gives the deterministic action of either."""

    params: dict
    obs_mean: np.ndarray
    obs_var: np.ndarray
    activation: str = "tanh"
    squash: bool = False
    obs_clip: float | None = 10.0

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        z = (obs - self.obs_mean) / np.sqrt(self.obs_var + 1e-8)
        return (np.clip(z, -self.obs_clip, self.obs_clip) if self.obs_clip else z).astype(np.float32)

    def act(self, obs: np.ndarray, action_dim: int) -> np.ndarray:
        x, act = self.normalize(obs), _activation(self.activation)
        layers = self.params["policy"]
        for layer in layers[:-1]:
            x = act(x @ layer["w"] + layer["b"])
        mean = (x @ layers[-1]["w"] + layers[-1]["b"])[..., :action_dim]
        return np.tanh(mean) if self.squash else np.clip(mean, -1.0, 1.0)

    def save(self, path: Path) -> None:
        flat = {"obs_mean": self.obs_mean, "obs_var": self.obs_var, "log_std": self.params["log_std"],
                "activation": np.array(self.activation), "squash": np.array(self.squash),
                "obs_clip": np.array(np.nan if self.obs_clip is None else self.obs_clip)}
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
        clip = float(flat["obs_clip"])
        return Policy(params=params, obs_mean=flat["obs_mean"], obs_var=flat["obs_var"],
                      activation=str(flat["activation"]), squash=bool(flat["squash"]),
                      obs_clip=None if np.isnan(clip) else clip)


@dataclass(frozen=True)
class TrainOutcome:
    """What a trainer hands back in the process that trained (the parent receives a records.TrainResult)."""

    policy: Policy
    curve: list[CurvePoint]  # statistics at each checkpoint (see rewardsmith.records for the metric keys)
    steps: int  # env steps the policy has been trained for, all calls of a continued training together
    wall_s: float
    steps_per_s: float
    reached_success: bool = False  # cfg.stop_at_success stopped it: its success rate reached the mark


Progress = Callable[[int, CurvePoint], None]  # a trainer's progress_fn(step, point), Brax style
