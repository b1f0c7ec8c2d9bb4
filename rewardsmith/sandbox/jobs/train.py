"""The training job, run inside the sandbox worker: load the untrusted reward, train, evaluate, save the policy.

Payload: {"env", "task" (a name or free text, resolved again here), "source", "train" (TrainConfig fields),
"trainer" ("native" | "mjx"), "eval_seed"}. Files written into the worker's directory: policy.npz, trace.npz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.evaluate.rollouts import evaluate
from rewardsmith.program.load import load_reward
from rewardsmith.train.policy import TrainingStopped


def _trainer(name: str):
    if name == "native":
        from rewardsmith.train.native import train_native

        return train_native
    if name == "mjx":
        from rewardsmith.train.mjx import train_mjx

        return train_mjx
    raise ValueError(f"unknown trainer {name!r}; valid: native, mjx")


def run(payload: dict, workdir: Path, progress: Callable[[dict], None]) -> dict:
    env = get_env(payload["env"])
    task = resolve_task(env, payload["task"])
    reward = load_reward(payload["source"])
    cfg = TrainConfig().with_overrides(**payload["train"])
    train = _trainer(payload.get("trainer", "native"))
    try:
        outcome = train(env, task, reward, cfg, lambda step, metrics: progress({"step": step, **metrics}))
        evaluation, trace = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes, payload.get("eval_seed", 10_000))
    except TrainingStopped as stop:
        return {"status": "failed", "reason": str(stop)}
    outcome.policy.save(Path(workdir) / "policy.npz")
    np.savez(Path(workdir) / "trace.npz", **trace)
    return {
        "status": "ok",
        "train": {"steps": outcome.steps, "wall_s": outcome.wall_s, "steps_per_s": outcome.steps_per_s,
                  "curve": outcome.curve},
        "evaluation": evaluation.to_dict(),
    }
