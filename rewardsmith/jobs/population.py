"""The "population" job, run inside the sandbox worker: a generation's reward programs trained together on MJX
(train/population.py), evaluated together, each member's policy and trace saved in its own folder.

Payload: {"env", "task", "train" (TrainConfig fields), "eval_seed", "checkpoint" (bool), "members": [{"key",
"source", "seed", "folder"}]}, folder a plain name under the job's directory. A member whose program does not load
or trace fails alone; the others train. Progress events carry the member's key. Result: {"status": "ok",
"members": {key: {"status": "ok", "train", "evaluation", "stopped_early"} | {"status": "failed", "reason"}}}.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.jobs.train import POLICY_FILE, TRACE_FILE
from rewardsmith.program.load import RewardProgramError, load_reward
from rewardsmith.records import EVAL_SEED, CurvePoint, TrainResult
from rewardsmith.sandbox.protocol import Progress
from rewardsmith.train.population import Member
from rewardsmith.train.population_train import train_population


def run(payload: dict, workdir: Path, progress: Progress) -> dict:
    env = get_env(payload["env"])
    task = resolve_task(env, payload["task"])
    cfg = TrainConfig().with_overrides(**payload["train"])
    failed: dict[str, dict] = {}
    members, folders = [], []
    for spec in payload["members"]:
        folder = Path(workdir) / spec["folder"]
        if folder.parent != Path(workdir):
            raise ValueError(f"member folder {spec['folder']!r} is not a plain name")
        try:
            reward = load_reward(spec["source"])
        except RewardProgramError as err:
            failed[spec["key"]] = {"status": "failed", "reason": f"the reward program does not load: {err}"}
            continue
        members.append(Member(spec["key"], reward, int(spec["seed"])))
        folders.append(folder)

    def on_progress(key: str, point: CurvePoint) -> None:
        progress({"key": key, **dataclasses.asdict(point)})

    # checkpoints (continue from and save) only where asked: a halving rung; policies and traces always
    saved_in = folders if payload.get("checkpoint") else None
    results = train_population(env, task, members, cfg, on_progress, saved_in,
                               payload.get("eval_seed", EVAL_SEED)) if members else []
    reports = dict(failed)
    for member, result, folder in zip(members, results, folders, strict=True):
        if result.outcome is None or result.evaluation is None or result.trace is None:
            reports[result.key] = {"status": "failed", "reason": result.reason or "the training returned nothing"}
            continue
        folder.mkdir(exist_ok=True)
        result.outcome.policy.save(folder / POLICY_FILE)
        np.savez(folder / TRACE_FILE, **result.trace)
        train = TrainResult(steps=result.outcome.steps, wall_s=result.outcome.wall_s,
                            steps_per_s=result.outcome.steps_per_s, curve=tuple(result.outcome.curve),
                            trainer="population", seed=member.seed)
        reports[result.key] = {"status": "ok", "train": dataclasses.asdict(train),
                               "evaluation": dataclasses.asdict(result.evaluation),
                               "stopped_early": result.stopped_early}
    return {"status": "ok", "members": reports}
