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
from rewardsmith.records import EVAL_SEED, CurvePoint, Evaluation, TrainResult
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


@dataclass(frozen=True)
class TrainReport:
    key: str
    ok: bool
    reason: str | None  # why the training failed, for the LLM and the user
    train: TrainResult | None
    evaluation: Evaluation | None


def progress_of(request: TrainRequest, line: Mapping[str, Any]) -> TrainProgress | None:
    """A progress line of the request's training child as its event; None for a malformed line (the child runs
    untrusted code: what it writes may be anything, and is dropped rather than crash the run)."""
    try:
        point = CurvePoint.from_dict(line)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):  # OverflowError: a step of 1e999
        return None
    return TrainProgress(request.key, request.cfg.steps, point)


def train_in_sandbox(request: TrainRequest, on_progress: OnProgress | None = None,
                     env: dict[str, str] | None = None) -> TrainReport:
    """`env`: variables for the child over its scrubbed environment (the GPU of a --parallel slot)."""
    payload = {"env": request.env, "task": request.task, "source": request.source,
               "train": dataclasses.asdict(request.cfg), "trainer": request.trainer, "eval_seed": request.eval_seed,
               "checkpoint": request.checkpoint}
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

    return report_of(request.key, run_job("train", payload, request.workdir, limits, on_progress=forward, env=env))


def report_of(key: str, result: SandboxResult) -> TrainReport:
    """A sandbox result -> TrainReport. The child's JSON is untrusted: a malformed result is a failure."""
    if result.status != "ok":
        return TrainReport(key, False, result.reason, None, None)
    return report_of_job(key, result.result or {})


def report_of_job(key: str, job: dict[str, Any]) -> TrainReport:
    """A training's JSON (the train job's result, or one member of the population job's) -> TrainReport."""
    if job.get("status") != "ok":
        reason = job.get("reason") or job.get("error") or "the training job returned nothing"
        return TrainReport(key, False, str(reason), None, None)
    try:
        train, evaluation = TrainResult.from_dict(job["train"]), Evaluation.from_dict(job["evaluation"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return TrainReport(key, False, f"the training job returned a malformed result ({type(err).__name__}: {err})",
                           None, None)
    return TrainReport(key, True, None, train, evaluation)


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
    payload = {"env": first.env, "task": first.task, "train": dataclasses.asdict(cfg),
               "eval_seed": first.eval_seed, "checkpoint": first.checkpoint,
               "members": [{"key": r.key, "source": r.source, "seed": r.cfg.seed, "folder": member_folder(r)}
                           for r in requests]}

    def forward(line: dict[str, Any]) -> None:  # a member's progress line: its key and its CurvePoint's fields
        request = by_key.get(str(line.get("key")))
        event = None if request is None else progress_of(request, {k: v for k, v in line.items() if k != "key"})
        if event is not None and on_progress is not None:
            on_progress(event)

    limits = Limits(wall_s=cfg.time_budget_s + EXTRA_WALL_S)
    result = run_job("population", payload, first.group_dir, limits, on_progress=forward, env=env)
    if result.status != "ok" or not isinstance((result.result or {}).get("members"), dict):
        whole = report_of(first.key, result)
        reason = whole.reason if not whole.ok else "the population job returned no member results"
        return [TrainReport(r.key, False, reason, None, None) for r in requests]
    members = (result.result or {})["members"]
    reports = []
    for request in requests:
        member = members.get(request.key)
        report = report_of_job(request.key, member) if isinstance(member, dict) else \
            TrainReport(request.key, False, "the population job did not report it", None, None)
        if report.ok:
            report = copy_outputs(request, first.group_dir / member_folder(request), report)
        reports.append(report)
    return reports


def member_folder(request: TrainRequest) -> str:
    return request.key.replace("#", "_seed")


def copy_outputs(request: TrainRequest, folder: Path, report: TrainReport) -> TrainReport:
    request.workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED_FILES:
        data = read_untrusted_file(folder / name, MAX_COPIED_BYTES)
        if data is None:
            return TrainReport(request.key, False, f"the population job left no {name}", None, None)
        tmp = request.workdir / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(request.workdir / name)
    return report
