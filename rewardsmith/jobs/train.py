"""The "train" job, run inside the sandbox worker: load the untrusted reward, train, evaluate, save the policy.

Payload: {"env", "task" (a name or free text, resolved again here), "source", "train" (TrainConfig fields),
"trainer" (a name in train.trainers.TRAINERS), "eval_seed", "checkpoint" (bool: continue from and save
checkpoint.npz)}. Files written into the worker's directory: policy.npz, trace.npz, checkpoint.npz.
Result: {"status": "ok", "train": TrainResult fields, "evaluation": Evaluation fields} or
{"status": "failed", "reason"}.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED, CurvePoint, TrainResult
from rewardsmith.sandbox.protocol import Progress
from rewardsmith.train.policy import TrainingStopped
from rewardsmith.train.rollouts import evaluate
from rewardsmith.train.trainers import trainer
from rewardsmith.train.xla_cache import CACHE_ENV, use_cache

POLICY_FILE, TRACE_FILE, CHECKPOINT_FILE = "policy.npz", "trace.npz", "checkpoint.npz"


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    if os.environ.get(CACHE_ENV):  # the compiled PPO update a trusted warm-up left (read-only here)
        use_cache(Path(os.environ[CACHE_ENV]), writable=False)
    env = get_env(payload["env"])
    task = resolve_task(env, payload["task"])
    reward = load_reward(payload["source"])
    cfg = TrainConfig().with_overrides(**payload["train"])
    trainer_name = payload.get("trainer", "native")
    train = trainer(trainer_name).train
    checkpoint = Path(workdir) / CHECKPOINT_FILE if payload.get("checkpoint") else None

    def on_progress(step: int, point: CurvePoint) -> None:
        progress(dataclasses.asdict(point))

    try:
        outcome = train(env, task, reward, cfg, on_progress, checkpoint)
        evaluation, trace = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes,
                                     payload.get("eval_seed", EVAL_SEED))
    except TrainingStopped as stop:
        return {"status": "failed", "reason": str(stop)}
    outcome.policy.save(Path(workdir) / POLICY_FILE)
    np.savez(Path(workdir) / TRACE_FILE, **trace)
    result = TrainResult(steps=outcome.steps, wall_s=outcome.wall_s, steps_per_s=outcome.steps_per_s,
                         curve=tuple(outcome.curve), trainer=trainer_name, seed=cfg.seed)
    return {"status": "ok", "train": dataclasses.asdict(result), "evaluation": dataclasses.asdict(evaluation)}
