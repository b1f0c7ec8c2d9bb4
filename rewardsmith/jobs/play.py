"""The "play" job, run inside the sandbox worker: one evaluation episode of a trained policy on a given seed.

Payload: a PlayJob (jobs/messages.py). Reads policy.npz from the worker's directory (the parent copies it there)
and writes trace.npz (qpos per control step and the episode's length, train/rollouts.py, for filming). Result: a
PlayResult with the episode's Evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.jobs.messages import PlayJob, PlayResult
from rewardsmith.program.load import load_reward
from rewardsmith.sandbox.protocol import JobStatus, Progress
from rewardsmith.train.policy import Policy
from rewardsmith.train.rollouts import evaluate

POLICY_FILE, TRACE_FILE = "policy.npz", "trace.npz"


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    job = PlayJob.from_payload(payload)
    env = get_env(job.env)
    task = resolve_task(env, job.task)
    reward = load_reward(job.source)
    policy = Policy.load(Path(workdir) / POLICY_FILE)
    evaluation, trace = evaluate(env, task, reward, policy, episodes=1, seed=job.seed)
    np.savez_compressed(Path(workdir) / TRACE_FILE, **trace)  # velocities and sensors: ~4x the positions alone
    return PlayResult(JobStatus.OK, evaluation=evaluation).to_dict()
