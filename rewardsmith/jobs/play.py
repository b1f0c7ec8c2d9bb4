"""The "play" job, run inside the sandbox worker: one evaluation episode of a trained policy on a given seed.

Payload: {"env", "task" (a name or free text, resolved again here), "source" (the candidate's reward: untrusted,
it gives the episode's return), "seed"}. Reads policy.npz from the worker's directory (the parent copies it there)
and writes trace.npz (qpos per control step, for filming). Result: {"status": "ok", "evaluation": Evaluation fields}.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.program.load import load_reward
from rewardsmith.sandbox.protocol import Progress
from rewardsmith.train.policy import Policy
from rewardsmith.train.rollouts import evaluate

POLICY_FILE, TRACE_FILE = "policy.npz", "trace.npz"


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    env = get_env(payload["env"])
    task = resolve_task(env, payload["task"])
    reward = load_reward(payload["source"])
    policy = Policy.load(Path(workdir) / POLICY_FILE)
    evaluation, trace = evaluate(env, task, reward, policy, episodes=1, seed=int(payload["seed"]))
    np.savez(Path(workdir) / TRACE_FILE, **trace)
    return {"status": "ok", "evaluation": dataclasses.asdict(evaluation)}
