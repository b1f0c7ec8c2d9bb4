"""The final confirmation from scratch: Eureka retrains the winner on fresh seeds so that its score is not one lucky
training; rewardsmith retrains the winner AND every contender still within the noise (the last selection's
contenders, confidence.py), and decides the run's answer again on those trainings alone.

Each candidate trains --final-seeds fresh seeds (the run's seed + 1, + 2, ...; never a search seed) at the full
budget, from scratch, the same training as in the search (--stop-at-success included: a seed that reaches success
stops there, as the search's did). Cost: final_seeds x (1 + contenders) full trainings, after the last generation.
The answer is the selection rule's pick among the confirmed candidates, the search's best staying unless another is
more likely best; a candidate whose confirmation seed fails does not compete (its reward does not reliably teach).
What was confirmed lands in RUN/final/<id>/ (seed_S/ and summary.json); a resumed run reads it back.
Under --select-robust the fresh seeds' policies are stressed too (evaluate/stress.py; RUN/final/<id>/stress.json)
and the answer is decided by their worst case under stress, as the search's picks were.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardsmith.confidence import choose
from rewardsmith.context import RunContext
from rewardsmith.evaluate.stress import read_reports, robustness, summary_of, write_reports
from rewardsmith.events import FinalEvaluation
from rewardsmith.execute.executors import Executor
from rewardsmith.execute.sandboxed import TrainReport, TrainRequest
from rewardsmith.execute.seeds import MultiSeedSummary, seed_requests, summarized, train_seeds
from rewardsmith.records import Candidate, Choice, SeedEvaluation, Status, Stop
from rewardsmith.runs.store import POLICY_NAME, read_json, write_record
from rewardsmith.train.trainers import trainer as plug


@dataclass(frozen=True)
class Confirmation:
    """The retrainings from scratch and the answer decided on them."""

    summaries: dict[str, MultiSeedSummary]  # id -> its fresh seeds, the search's best first
    choice: Choice  # the selection rule over the confirmed candidates
    answer: Candidate  # the run's best reward after the confirmation (its record as the search left it)

    def to_dict(self) -> dict[str, object]:
        return {"confirmed": {cid: s.to_dict() for cid, s in self.summaries.items()}, "choice": self.choice.to_dict()}


def confirm(ctx: RunContext, best: Candidate, contenders: list[Candidate],
            executor: Executor | None = None) -> Confirmation:
    """Retrains `best` and the other `contenders` on ctx.cfg.final_seeds fresh seeds (through the run's `executor`,
    every candidate's seeds in one batch, so --parallel keeps its slots busy) and decides again."""
    seeds = [ctx.cfg.seed + 1 + i for i in range(ctx.cfg.final_seeds)]
    ranked = [best] + [c for c in contenders if c.id != best.id]
    if executor is not None and not plug(ctx.cfg.trainer).together:
        summaries = _retrained_side_by_side(ctx, ranked, seeds, executor)
    else:
        summaries = {cand.id: _retrained(ctx, cand, seeds) for cand in ranked}
    confirmed = [_as_confirmed(cand, summaries[cand.id]) for cand in ranked]
    if ctx.cfg.select_robust:
        confirmed = [_stressed(ctx, cand) for cand in confirmed]
    choice = choose(confirmed, ctx.task.success_threshold, seed=ctx.cfg.seed * 7919 + 104729, incumbent=best.id,
                    robust=ctx.cfg.select_robust)
    answer = next((c for c in ranked if c.id == choice.best), best)
    return Confirmation(summaries, choice, answer)


def _confirmed_before(ctx: RunContext, cand: Candidate) -> MultiSeedSummary | None:
    """A resumed run's confirmation of `cand`, where it finished before the stop."""
    path = ctx.store.final_dir() / cand.id / "summary.json"
    return MultiSeedSummary.from_dict(read_json(path)) if path.is_file() else None


def _retrained(ctx: RunContext, cand: Candidate, seeds: list[int]) -> MultiSeedSummary:
    """One candidate's seeds, one after the other or (the population trainer) together as one population."""
    folder = ctx.store.final_dir() / cand.id
    before = _confirmed_before(ctx, cand)
    if before is not None:
        return before
    ctx.report(FinalEvaluation(cand.id, tuple(seeds)))
    assert cand.source is not None, "only evaluated candidates are confirmed"
    summary = train_seeds(ctx.env, ctx.cfg.task, cand.source, ctx.training_config(0), seeds, folder, ctx.report,
                          ctx.cfg.trainer)
    write_record(folder / "summary.json", summary.to_dict())
    return summary


def _retrained_side_by_side(ctx: RunContext, ranked: list[Candidate], seeds: list[int],
                            executor: Executor) -> dict[str, MultiSeedSummary]:
    """Every candidate's seeds through the executor in one batch, so a slot that a seed frees (one that stops at
    success early) takes the next training, whoever's it is. Trained one candidate at a time, a core idled until the
    candidate's slower seed ended: 9 of a live kneel run's 19-minute confirmation (its rival's seeds stopped at 1.0M
    and 4.0M steps). Each candidate's summary is written as soon as its own seeds are done (a stop keeps it)."""
    summaries = {cand.id: before for cand in ranked if (before := _confirmed_before(ctx, cand)) is not None}
    requests: dict[str, list[TrainRequest]] = {}
    for cand in ranked:
        if cand.id not in summaries:
            assert cand.source is not None, "only evaluated candidates are confirmed"
            ctx.report(FinalEvaluation(cand.id, tuple(seeds)))
            requests[cand.id] = seed_requests(ctx.env, ctx.cfg.task, cand.source, ctx.training_config(0), seeds,
                                              ctx.store.final_dir() / cand.id, ctx.cfg.trainer, f"{cand.id} ")
    owner = {request.key: cid for cid, own in requests.items() for request in own}
    finished: dict[str, TrainReport] = {}
    for outcome in executor.run([r for own in requests.values() for r in own], ctx.report):
        finished[outcome.key] = outcome
        cid = owner[outcome.key]
        if all(r.key in finished for r in requests[cid]):
            summaries[cid] = summarized(seeds, [finished[r.key] for r in requests[cid]], ctx.report)
            write_record(ctx.store.final_dir() / cid / "summary.json", summaries[cid].to_dict())
    return {cand.id: summaries[cand.id] for cand in ranked}


def _stressed(ctx: RunContext, cand: Candidate) -> Candidate:
    """A confirmed candidate with its fresh seeds' policies under stress (a failed confirmation, or one whose
    policies are not there, is left as it is)."""
    if cand.status is not Status.EVALUATED:
        return cand
    folder = ctx.store.final_dir() / cand.id
    path = folder / "stress.json"
    if path.is_file():  # a resumed run: stressed already
        return cand.replace(stress=summary_of(read_reports(path)))
    policies = [folder / f"seed_{s.seed}" / POLICY_NAME for s in cand.seeds]
    if not all(p.is_file() for p in policies):  # not compared by its worst case (confidence.measured)
        return cand
    measured, reports = robustness(ctx.env, ctx.task, policies, cand.id)
    write_reports(path, reports)
    return cand.replace(stress=measured)


def _as_confirmed(cand: Candidate, summary: MultiSeedSummary) -> Candidate:
    """The candidate as its confirmation measured it: its seeds are the fresh ones only."""
    if not summary.seeds or not all(r.ok for r in summary.seeds):
        failed = next((r.reason for r in summary.seeds if not r.ok), "no seed")
        return cand.replace(status=Status.TRAIN_FAILED, reason=f"the confirmation from scratch failed: {failed}")
    seeds = tuple(SeedEvaluation(seed=r.seed, fitness_mean=r.fitness, success_rate=r.success_rate,
                                 return_mean=r.return_mean, steps=r.steps or 0, wall_s=r.wall_s or 0.0,
                                 episode_scores=r.episode_scores, cpu_s=r.cpu_s) for r in summary.seeds)
    return cand.replace(seeds=seeds, stop=Stop.BUDGET)
