"""What every stage of one run needs, resolved once: the store, the config, the env and task, the reporter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rewardsmith.config import RunConfig, TrainConfig, train_config_for
from rewardsmith.env.registry import EnvSpec, use_run_envs_dir
from rewardsmith.env.task import Task
from rewardsmith.events import Report
from rewardsmith.runs.store import RunStore


@dataclass(frozen=True)
class RunContext:
    store: RunStore
    cfg: RunConfig
    env: EnvSpec
    task: Task
    report: Report

    def training_config(self, seed: int | None = None) -> TrainConfig:
        """The env's PPO settings, the task's budget (or --train-steps) and the run's overrides."""
        overrides = {"steps": self.cfg.train_steps or self.task.train_steps,
                     "seed": self.cfg.seed if seed is None else seed, **self.cfg.train}
        return train_config_for(self.env.ppo, **overrides)


def open_run(path: Path) -> RunStore:
    """An existing run, its recorded envs folder made the one in effect for this process and the sandboxed children it
    starts, so `--resume`, `show`, `review`, `export` and `play` on a run of the user's own env find it without
    REWARDSMITH_ENVS (the store itself only reads and writes the run's files)."""
    store = RunStore.open(path)
    use_run_envs_dir(store.config().envs_dir)
    return store
