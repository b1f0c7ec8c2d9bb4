"""The "population" job, run inside the sandbox worker: a generation's reward programs trained together on MJX
(train/population.py), evaluated together, each member's policy and trace saved in its own folder.

Payload: a PopulationJob (jobs/messages.py). A member whose program does not load or trace fails alone; the others
train. Progress lines carry the member's key. Result: a PopulationResult, a TrainingResult per member's key.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.jobs.messages import PopulationJob, PopulationResult, TrainingResult
from rewardsmith.jobs.train import POLICY_FILE, TRACE_FILE, start_policy
from rewardsmith.program.load import RewardProgramError, load_reward
from rewardsmith.records import CurvePoint, TrainResult
from rewardsmith.sandbox.protocol import JobStatus, Progress
from rewardsmith.train.policy import TrainingStopped
from rewardsmith.train.population import Member
from rewardsmith.train.population_train import train_population


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    job = PopulationJob.from_payload(payload)
    env = get_env(job.env)
    task = resolve_task(env, job.task)
    reports: dict[str, TrainingResult] = {}
    members, folders = [], []
    for spec in job.members:
        folder = Path(workdir) / spec.folder
        if folder.parent != Path(workdir):
            raise ValueError(f"member folder {spec.folder!r} is not a plain name")
        try:
            reward = load_reward(spec.source)
        except RewardProgramError as err:
            reports[spec.key] = TrainingResult.failed(f"the reward program does not load: {err}")
            continue
        try:
            start = start_policy(folder) if spec.inherit else None
        except TrainingStopped as err:
            reports[spec.key] = TrainingResult.failed(str(err))
            continue
        members.append(Member(spec.key, reward, spec.seed, start))
        folders.append(folder)

    def on_progress(key: str, point: CurvePoint) -> None:
        progress({"key": key, **dataclasses.asdict(point)})

    # checkpoints (continue from and save) only where asked: a halving rung; policies and traces always
    saved_in = folders if job.checkpoint else None
    cpu_before = time.process_time()
    results = train_population(env, task, members, job.train, on_progress, saved_in, job.eval_seed) if members else []
    cpu_each = (time.process_time() - cpu_before) / max(len(members), 1)
    for member, result, folder in zip(members, results, folders, strict=True):
        if result.outcome is None or result.evaluation is None or result.trace is None:
            reports[result.key] = TrainingResult.failed(result.reason or "the training returned nothing")
            continue
        folder.mkdir(exist_ok=True)
        result.outcome.policy.save(folder / POLICY_FILE)
        np.savez_compressed(folder / TRACE_FILE, **result.trace)
        train = TrainResult(steps=result.outcome.steps, wall_s=result.outcome.wall_s,
                            steps_per_s=result.outcome.steps_per_s, curve=tuple(result.outcome.curve),
                            trainer="population", seed=member.seed, reached_success=result.stopped_early,
                            cpu_s=cpu_each, device=jax.default_backend())
        reports[result.key] = TrainingResult(JobStatus.OK, train=train, evaluation=result.evaluation)
    return PopulationResult(reports).to_dict()
