"""Training one reward program in the sandbox, parent side: a TrainRequest in, a TrainReport out.

The reward is untrusted code, so the training runs as the sandbox's "train" job in a confined child; whatever
the child does (a failure, a timeout, a crash, a forged result) comes back as a TrainReport with a reason. Its
progress lines (JSON, a CurvePoint's fields) are parsed here, once, into TrainProgress events; a malformed one is
dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.config import TrainConfig
from rewardsmith.events import TrainingEvent, TrainProgress
from rewardsmith.jobs import run_job
from rewardsmith.jobs.messages import (
    INHERIT_FILE,
    PopulationJob,
    PopulationMember,
    PopulationResult,
    TrainingResult,
    TrainJob,
)
from rewardsmith.records import EVAL_SEED, CurvePoint, Evaluation, TrainResult
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.sandbox.runner import Limits, SandboxResult, read_untrusted_file
from rewardsmith.train.trainers import trainer
from rewardsmith.train.xla_cache import CACHE_ENV, warm

EXTRA_WALL_S = 300  # the sandbox's wall limit over the training's own time budget: evaluation and start-up
COPIED_FILES = ("policy.npz", "trace.npz")  # what the population job leaves for each request's own workdir
MAX_COPIED_BYTES = 256 * 2**20  # the sandbox's own file-size limit

# a training's events as an executor hands them on: its checkpoints, where it runs, its retries (id: the request key)
OnProgress = Callable[[TrainingEvent], None]


@dataclass(frozen=True)
class TrainRequest:
    key: str  # who asks: a candidate id ("g0c01") or "seed 3"; progress and reports carry it
    env: str
    task: str  # a task name or free text (resolved again in the child)
    source: str
    cfg: TrainConfig
    workdir: Path  # the job's sandbox directory (policy.npz, trace.npz, checkpoint.npz land here)
    trainer: str = "native"
    eval_seed: int = EVAL_SEED
    checkpoint: bool = False  # continue from workdir/checkpoint.npz if there, and save it at the end
    # the population trainer's job directory (a generation's requests trained together; each keeps its
    # checkpoint in a folder of its own there); None for the other trainers
    group_dir: Path | None = None
    # evolve --inherit: the policy.npz the training starts from (its parent's; the bytes travel with the request to
    # any node); it lands in the job's directory as jobs/train.py's INHERIT_FILE
    start: bytes | None = None


@dataclass(frozen=True)
class TrainReport:
    """A request's training as the parent knows it: its key and its TrainingResult's fields."""

    key: str
    status: JobStatus
    reason: str | None  # why the training failed, for the LLM and the user
    train: TrainResult | None
    evaluation: Evaluation | None

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.OK

    @classmethod
    def failed(cls, key: str, reason: str | None, status: JobStatus = JobStatus.FAILED) -> TrainReport:
        return cls(key, status, reason, None, None)

    @classmethod
    def of(cls, key: str, result: TrainingResult) -> TrainReport:
        return cls(key, result.status, result.reason, result.train, result.evaluation)


def progress_of(request: TrainRequest, line: Mapping[str, Any]) -> TrainProgress | None:
    """A progress line of the request's training child as its event; None for a malformed line (the child runs
    untrusted code: what it writes may be anything, and is dropped rather than crash the run)."""
    try:
        point = CurvePoint.from_dict(line)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):  # OverflowError: a step of 1e999
        return None
    asked = request.cfg.steps
    total = trainer(request.trainer).steps_of(request.cfg)  # what it really trains: "2,048/2,000 steps" was wrong
    return TrainProgress(request.key, total, point, asked=asked if asked != total else None)


def train_in_sandbox(request: TrainRequest, on_progress: OnProgress | None = None,
                     env: dict[str, str] | None = None) -> TrainReport:
    """`env`: variables for the child over its scrubbed environment (the GPU of a --parallel slot)."""
    job = TrainJob(request.env, request.task, request.source, request.cfg, request.trainer, request.eval_seed,
                   request.checkpoint, inherit=place_start(request, request.workdir))
    limits = Limits(wall_s=request.cfg.time_budget_s + EXTRA_WALL_S)
    env = dict(env or {})
    cached = trainer(request.trainer).xla_cache
    cache = warm(request.env, request.task, dataclasses.asdict(request.cfg)) if cached else None
    if cache is not None:  # the compiled PPO update, read-only (train/xla_cache.py)
        env[CACHE_ENV] = str(cache)
        limits = dataclasses.replace(limits, read_paths=(str(cache),))

    def forward(line: dict[str, Any]) -> None:
        event = progress_of(request, line)
        if event is not None and on_progress is not None:
            on_progress(event)

    return report_of(request.key, run_job(job, request.workdir, limits, on_progress=forward, env=env))


def report_of(key: str, result: SandboxResult) -> TrainReport:
    """A sandbox result -> TrainReport. The child's JSON is untrusted: a malformed result is a failure."""
    if result.status is not JobStatus.OK:
        return TrainReport.failed(key, result.reason, result.status)
    return TrainReport.of(key, TrainingResult.from_untrusted(result.result))


def train_together(requests: Sequence[TrainRequest], on_progress: OnProgress | None = None,
                   env: dict[str, str] | None = None) -> list[TrainReport]:
    """The population trainer: every request (same env, task, settings and group_dir; seeds may differ) trained in
    ONE sandboxed job; reports in the requests' order. Each request's policy and trace are copied into its own
    workdir, where the rest of the run looks for them."""
    first = requests[0]
    assert first.group_dir is not None, "population requests carry their job directory"
    by_key = {r.key: r for r in requests}
    # the job's time budget is its members' together: each would have had cfg.time_budget_s trained alone
    cfg = dataclasses.replace(first.cfg, time_budget_s=first.cfg.time_budget_s * len(requests))
    members = tuple(PopulationMember(r.key, r.source, r.cfg.seed, member_folder(r),
                                     inherit=place_start(r, first.group_dir / member_folder(r))) for r in requests)
    job = PopulationJob(first.env, first.task, cfg, members, first.eval_seed, first.checkpoint)

    def forward(line: dict[str, Any]) -> None:  # a member's progress line: its key and its CurvePoint's fields
        request = by_key.get(str(line.get("key")))
        event = None if request is None else progress_of(request, {k: v for k, v in line.items() if k != "key"})
        if event is not None and on_progress is not None:
            on_progress(event)

    limits = Limits(wall_s=cfg.time_budget_s + EXTRA_WALL_S)
    result = run_job(job, first.group_dir, limits, on_progress=forward, env=env)
    together = PopulationResult.from_untrusted(result.result) if result.status is JobStatus.OK else None
    if together is None:
        whole = report_of(first.key, result)
        if whole.ok:  # the job ran but its result holds no members
            whole = TrainReport.failed(first.key, "the population job returned no member results")
        return [TrainReport.failed(r.key, whole.reason, whole.status) for r in requests]
    reports = []
    for request in requests:
        member = together.members.get(request.key)
        report = TrainReport.of(request.key, member) if member is not None else \
            TrainReport.failed(request.key, "the population job did not report it")
        if report.ok:
            report = copy_outputs(request, first.group_dir / member_folder(request), report)
        reports.append(report)
    return reports


def place_start(request: TrainRequest, folder: Path) -> bool:
    """Writes the request's start policy (evolve --inherit) into the job's folder; whether there is one. A training
    continued from its checkpoint (a later halving rung) ignores it: the checkpoint holds what it made of it."""
    if request.start is None:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (INHERIT_FILE + ".tmp")
    tmp.write_bytes(request.start)
    tmp.replace(folder / INHERIT_FILE)
    return True


def same_settings(requests: Sequence[TrainRequest]) -> list[list[TrainRequest]]:
    """Requests grouped by their training settings but the seed, in first-seen order: a population job trains its
    members alike (--inherit's children train a shorter budget than the generation's fresh candidates)."""
    groups: dict[str, list[TrainRequest]] = {}
    for request in requests:
        settings = dataclasses.replace(request.cfg, seed=0)
        groups.setdefault(repr(settings), []).append(request)
    return list(groups.values())


def member_folder(request: TrainRequest) -> str:
    return request.key.replace("#", "_seed")


def copy_outputs(request: TrainRequest, folder: Path, report: TrainReport) -> TrainReport:
    request.workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED_FILES:
        data = read_untrusted_file(folder / name, MAX_COPIED_BYTES)
        if data is None:
            return TrainReport.failed(request.key, f"the population job left no {name}")
        tmp = request.workdir / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(request.workdir / name)
    return report
