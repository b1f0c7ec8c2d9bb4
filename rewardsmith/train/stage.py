"""The train stage: every checked candidate of a generation trained and evaluated through an executor.

With --train-seeds N each candidate is trained on N seeds (N requests, all handed to the executor at once); the
candidate is ranked by the mean task score over its seeds, and its first seed's policy is the one evaluated in
detail, reflected on and filmed. A candidate whose training fails on any seed fails (the reward is at fault or
unstable), with the seed named in the reason.
"""

from __future__ import annotations

from typing import Any

from rewardsmith.context import RunContext
from rewardsmith.records import Candidate, SeedEvaluation, Status
from rewardsmith.train.executors import Executor
from rewardsmith.train.sandboxed import TrainReport, TrainRequest

SEED_STRIDE = 1000  # seed k of a candidate trains with the run's seed + k * SEED_STRIDE (never a final-eval seed)


def seeds_of(ctx: RunContext) -> list[int]:
    return [ctx.cfg.seed + k * SEED_STRIDE for k in range(ctx.cfg.train_seeds)]


def request_for(ctx: RunContext, cand: Candidate, k: int = 0) -> TrainRequest:
    assert cand.source is not None, "only checked candidates are trained"
    seed = seeds_of(ctx)[k]
    workdir = ctx.store.work_dir(cand.generation, cand.index) if k == 0 else \
        ctx.store.seed_work_dir(cand.generation, cand.index, seed)
    return TrainRequest(key=f"{cand.id}#{k}", env=ctx.env.name, task=ctx.cfg.task, source=cand.source,
                        cfg=ctx.training_config(seed), workdir=workdir, trainer=ctx.cfg.trainer)


def trained(cand: Candidate, reports: list[TrainReport], seeds: list[int]) -> Candidate:
    """The candidate after all its seeds' trainings (reports in seed order)."""
    for seed, report in zip(seeds, reports, strict=True):
        if not report.ok:
            on_seed = f" (seed {seed})" if len(seeds) > 1 else ""
            return cand.replace(status=Status.TRAIN_FAILED, reason=f"training failed{on_seed}: {report.reason}")
    first = reports[0]
    per_seed = tuple(
        SeedEvaluation(seed=seed, fitness_mean=r.evaluation.fitness_mean, success_rate=r.evaluation.success_rate,
                       return_mean=r.evaluation.return_mean, steps=r.train.steps, wall_s=r.train.wall_s)
        for seed, r in zip(seeds, reports, strict=True) if r.evaluation is not None and r.train is not None)
    return cand.replace(status=Status.EVALUATED, train=first.train, evaluation=first.evaluation,
                        seeds=per_seed if len(seeds) > 1 else ())


def train_all(ctx: RunContext, candidates: list[Candidate], executor: Executor) -> list[Candidate]:
    """Trains the CHECKED candidates (a resumed run skips those already trained); saves each as soon as all its
    seeds are done."""
    by_id = {c.id: c for c in candidates}
    seeds = seeds_of(ctx)
    todo = [c for c in candidates if c.status is Status.CHECKED]
    requests = [request_for(ctx, c, k) for c in todo for k in range(len(seeds))]
    done: dict[str, dict[int, TrainReport]] = {c.id: {} for c in todo}

    def on_progress(request: TrainRequest, metrics: dict[str, Any]) -> None:
        ctx.report({"event": "train", "id": request.key.removesuffix("#0"), "total": request.cfg.steps, **metrics})

    for report in executor.run(requests, on_progress):
        cand_id, k = report.key.rsplit("#", 1)
        done[cand_id][int(k)] = report
        if len(done[cand_id]) < len(seeds):
            continue
        cand = trained(by_id[cand_id], [done[cand_id][i] for i in range(len(seeds))], seeds)
        ctx.store.save_candidate(cand)
        ctx.report({"event": "candidate", "id": cand.id, "status": cand.status.value, "reason": cand.reason})
        by_id[cand.id] = cand
    return [by_id[c.id] for c in candidates]
