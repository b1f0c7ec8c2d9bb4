"""Training one reward program in the sandbox, parent side: a TrainRequest in, a TrainReport out.

The reward is untrusted code, so the training runs as the sandbox's "train" job in a confined child; whatever
the child does (a failure, a timeout, a crash, a forged result) comes back as a TrainReport with a reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.config import TrainConfig
from rewardsmith.records import Evaluation, TrainResult
from rewardsmith.sandbox.runner import Limits, SandboxResult, run_job

EXTRA_WALL_S = 300  # the sandbox's wall limit over the training's own time budget: evaluation and start-up


@dataclass(frozen=True)
class TrainRequest:
    key: str  # who asks: a candidate id ("g0c01") or "seed 3"; progress and reports carry it
    env: str
    task: str  # a task name or free text (resolved again in the child)
    source: str
    cfg: TrainConfig
    workdir: Path  # the job's sandbox directory (policy.npz, trace.npz, checkpoint.npz land here)
    trainer: str = "native"
    eval_seed: int = 10_000
    checkpoint: bool = False  # continue from workdir/checkpoint.npz if there, and save it at the end


@dataclass(frozen=True)
class TrainReport:
    key: str
    ok: bool
    reason: str | None  # why the training failed, for the LLM and the user
    train: TrainResult | None
    evaluation: Evaluation | None


def train_in_sandbox(request: TrainRequest,
                     on_progress: Callable[[dict[str, Any]], None] | None = None) -> TrainReport:
    payload = {"env": request.env, "task": request.task, "source": request.source,
               "train": dataclasses.asdict(request.cfg), "trainer": request.trainer, "eval_seed": request.eval_seed,
               "checkpoint": request.checkpoint}
    limits = Limits(wall_s=request.cfg.time_budget_s + EXTRA_WALL_S)
    return report_of(request.key, run_job("train", payload, request.workdir, limits, on_progress=on_progress))


def report_of(key: str, result: SandboxResult) -> TrainReport:
    """A sandbox result -> TrainReport. The child's JSON is untrusted: a malformed result is a failure."""
    if result.status != "ok":
        return TrainReport(key, False, result.reason, None, None)
    job = result.result or {}
    if job.get("status") != "ok":
        reason = job.get("reason") or job.get("error") or "the training job returned nothing"
        return TrainReport(key, False, str(reason), None, None)
    try:
        train, evaluation = TrainResult.from_dict(job["train"]), Evaluation.from_dict(job["evaluation"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return TrainReport(key, False, f"the training job returned a malformed result ({type(err).__name__}: {err})",
                           None, None)
    return TrainReport(key, True, None, train, evaluation)
