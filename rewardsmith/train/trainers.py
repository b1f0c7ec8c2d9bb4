"""The trainer registry: name -> the function that trains a policy on one reward program.

  native  PPO on batched native MuJoCo, numpy acting and a jitted JAX update (train/native.py): the CPU path
  mjx     Brax PPO on MJX, everything on the accelerator (train/mjx.py)
  population  a generation's candidates trained together in one jitted JAX program on MJX (train/population.py):
          the GPU path. The executor hands it the whole generation as one sandboxed job (sandboxed.train_together);
          registered here as a one-member population for trainings outside a generation (re-evaluation seeds).

Every trainer is `train(env, task, reward, cfg, progress, checkpoint) -> TrainOutcome`, reports through
`progress(step, CurvePoint)` and runs inside the sandboxed train job (the reward is untrusted code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.task import Task
from rewardsmith.program.load import LoadedReward
from rewardsmith.registry import Registry
from rewardsmith.train.policy import Progress, TrainOutcome


class Trainer(Protocol):
    def __call__(self, env: EnvSpec, task: Task, reward: LoadedReward, cfg: TrainConfig, progress: Progress = ...,
                 checkpoint: Path | None = None) -> TrainOutcome: ...


TRAINERS: Registry[Trainer] = Registry("--trainer")


def _native() -> Trainer:
    from rewardsmith.train.native import train_native

    return train_native


def _mjx() -> Trainer:
    from rewardsmith.train.mjx import train_mjx  # imports jax, brax and MJX: only when asked for

    return train_mjx


def _population() -> Trainer:
    from rewardsmith.train.population_train import train_population_alone

    return train_population_alone


TRAINERS.register("native", _native)
TRAINERS.register("mjx", _mjx)
TRAINERS.register("population", _population)
