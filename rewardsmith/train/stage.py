"""The train stage: every checked candidate of a generation trained and evaluated through an executor."""

from __future__ import annotations

from typing import Any

from rewardsmith.context import RunContext
from rewardsmith.records import Candidate, Status
from rewardsmith.train.executors import Executor
from rewardsmith.train.sandboxed import TrainReport, TrainRequest


def request_for(ctx: RunContext, cand: Candidate) -> TrainRequest:
    assert cand.source is not None, "only checked candidates are trained"
    return TrainRequest(key=cand.id, env=ctx.env.name, task=ctx.cfg.task, source=cand.source,
                        cfg=ctx.training_config(), workdir=ctx.store.work_dir(cand.generation, cand.index),
                        trainer=ctx.cfg.trainer)


def trained(cand: Candidate, report: TrainReport) -> Candidate:
    if not report.ok:
        return cand.replace(status=Status.TRAIN_FAILED, reason=f"training failed: {report.reason}")
    return cand.replace(status=Status.EVALUATED, train=report.train, evaluation=report.evaluation)


def train_all(ctx: RunContext, candidates: list[Candidate], executor: Executor) -> list[Candidate]:
    """Trains the CHECKED candidates (a resumed run skips those already trained); saves each as it finishes."""
    by_id = {c.id: c for c in candidates}
    requests = [request_for(ctx, c) for c in candidates if c.status is Status.CHECKED]

    def on_progress(request: TrainRequest, metrics: dict[str, Any]) -> None:
        ctx.report({"event": "train", "id": request.key, "total": request.cfg.steps, **metrics})

    for report in executor.run(requests, on_progress):
        cand = trained(by_id[report.key], report)
        ctx.store.save_candidate(cand)
        ctx.report({"event": "candidate", "id": cand.id, "status": cand.status.value, "reason": cand.reason})
        by_id[cand.id] = cand
    return [by_id[c.id] for c in candidates]
