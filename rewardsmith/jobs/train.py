"""The "train" job, run inside the sandbox worker: load the untrusted reward, train, evaluate, save the policy.

Payload: a TrainJob (jobs/messages.py). Files written into the worker's directory: policy.npz, trace.npz (every
evaluation episode's states, train/rollouts.py; the parent reads it back as untrusted data, evaluate/trace.py),
checkpoint.npz. Result: a TrainingResult, OK with the TrainResult and the Evaluation, or FAILED with the reason.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import jax
import numpy as np

from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.jobs.messages import INHERIT_FILE, TrainingResult, TrainJob
from rewardsmith.program.load import load_reward
from rewardsmith.records import CurvePoint, TrainResult
from rewardsmith.sandbox.protocol import JobStatus, Progress
from rewardsmith.train.policy import Policy, TrainingStopped
from rewardsmith.train.rollouts import evaluate
from rewardsmith.train.trainers import trainer
from rewardsmith.train.xla_cache import CACHE_ENV, use_cache

POLICY_FILE, TRACE_FILE, CHECKPOINT_FILE = "policy.npz", "trace.npz", "checkpoint.npz"


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    job = TrainJob.from_payload(payload)
    if os.environ.get(CACHE_ENV):  # the compiled PPO update a trusted warm-up left (read-only here)
        use_cache(Path(os.environ[CACHE_ENV]), writable=False)
    env = get_env(job.env)
    task = resolve_task(env, job.task)
    reward = load_reward(job.source)
    cfg = job.train
    train = trainer(job.trainer).train
    checkpoint = Path(workdir) / CHECKPOINT_FILE if job.checkpoint else None

    def on_progress(step: int, point: CurvePoint) -> None:
        progress(dataclasses.asdict(point))

    cpu_before = time.process_time()
    try:
        start = start_policy(Path(workdir)) if job.inherit else None
        outcome = train(env, task, reward, cfg, on_progress, checkpoint, start)
        evaluation, trace = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes, job.eval_seed)
    except TrainingStopped as stop:
        return TrainingResult.failed(str(stop)).to_dict()
    outcome.policy.save(Path(workdir) / POLICY_FILE)
    np.savez_compressed(Path(workdir) / TRACE_FILE, **trace)  # velocities and sensors: ~4x the positions alone
    result = TrainResult(steps=outcome.steps, wall_s=outcome.wall_s, steps_per_s=outcome.steps_per_s,
                         curve=tuple(outcome.curve), trainer=job.trainer, seed=cfg.seed,
                         reached_success=outcome.reached_success, cpu_s=time.process_time() - cpu_before,
                         device=jax.default_backend())
    return TrainingResult(JobStatus.OK, train=result, evaluation=evaluation).to_dict()


def start_policy(folder: Path) -> Policy:
    """The policy a training starts from (evolve --inherit): the parent process placed it in the job's folder."""
    try:
        return Policy.load(folder / INHERIT_FILE)
    except (OSError, ValueError, KeyError) as err:
        raise TrainingStopped(f"the parent's policy to start from does not load: {err}") from None
