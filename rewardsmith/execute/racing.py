"""Racing for the contenders (F-race / irace style): when the selection rule (rewardsmith/confidence.py) is not sure
of a generation's pick, train more seeds for the contenders only, not for everyone.

A round: the rule decides over the generation's candidates and the run's best so far; when its pick is confident, or
there are fewer than two contenders, racing ends; otherwise every contender trains one more seed at the full budget,
the same training as its first seed (--stop-at-success and --inherit included, so every seed of a candidate is
measured alike), and the rule decides again over all its seeds. At most --race-seeds rounds (0: no racing). The run's
best so far competes with the seeds it has: a finished generation's records are never changed (the final
confirmation from scratch retrains it anyway). A seed that fails fails its candidate, as a failed --train-seeds seed
does: its reward is unstable.

Cost: at most rounds x contenders full trainings per generation, spent only where the pick is unsure.
"""

from __future__ import annotations

from rewardsmith.confidence import choose
from rewardsmith.context import RunContext
from rewardsmith.events import RaceRound
from rewardsmith.execute.executors import Executor
from rewardsmith.execute.train_stage import final_candidate, request_for, seed_of, trained
from rewardsmith.records import Candidate, SeedEvaluation, Status


def race(ctx: RunContext, candidates: list[Candidate], parent: Candidate | None,
         executor: Executor) -> list[Candidate]:
    """The generation's candidates after racing (more seeds for its contenders)."""
    by_id = {c.id: c for c in candidates}
    rivals = [parent] if parent is not None else []
    for round_index in range(ctx.cfg.race_seeds):
        choice = choose([*by_id.values(), *rivals], ctx.task.success_threshold,
                        seed=ctx.cfg.seed * 7919 + round_index, incumbent=parent.id if parent is not None else None)
        ours = [by_id[c] for c in choice.contenders if c in by_id]
        if choice.confident or len(choice.contenders) < 2 or choice.best is None or not ours:
            break
        ctx.report(RaceRound(round_index + 1, ctx.cfg.race_seeds, choice.contenders, choice.p_best[choice.best],
                             tuple(c.id for c in ours)))
        for cand in _one_more_seed(ctx, ours, executor):
            by_id[cand.id] = cand
    return [by_id[c.id] for c in candidates]


def _one_more_seed(ctx: RunContext, contenders: list[Candidate], executor: Executor) -> list[Candidate]:
    ks = {c.id: max(1, len(c.seeds)) for c in contenders}  # the next seed's index
    requests = [request_for(ctx, c, ks[c.id]) for c in contenders]
    by_key = {r.key: c for r, c in zip(requests, contenders, strict=True)}
    done = []
    for report in executor.run(requests, lambda event: None):
        cand = by_key[report.key]
        seed = seed_of(ctx, ks[cand.id])
        result = trained(cand, [report], [seed])  # the new seed's training alone
        if result.status is not Status.EVALUATED or result.evaluation is None or result.train is None:
            failed = cand.replace(status=Status.TRAIN_FAILED, reason=f"training failed (racing seed {seed}): "
                                                                     f"{report.reason}")
            done.append(final_candidate(ctx, failed))
            continue
        new = SeedEvaluation(seed=seed, fitness_mean=result.evaluation.fitness_mean,
                             success_rate=result.evaluation.success_rate, return_mean=result.evaluation.return_mean,
                             steps=result.train.steps, wall_s=result.train.wall_s,
                             episode_scores=result.evaluation.episode_scores, cpu_s=result.train.cpu_s)
        done.append(final_candidate(ctx, cand.replace(seeds=(*seeds_so_far(ctx, cand), new))))
    return done


def seeds_so_far(ctx: RunContext, cand: Candidate) -> tuple[SeedEvaluation, ...]:
    """A candidate's seeds as SeedEvaluations (a candidate trained on one seed keeps it in its evaluation)."""
    if cand.seeds:
        return cand.seeds
    assert cand.evaluation is not None and cand.train is not None, "only evaluated candidates race"
    ev = cand.evaluation
    return (SeedEvaluation(seed=seed_of(ctx, 0), fitness_mean=ev.fitness_mean, success_rate=ev.success_rate,
                           return_mean=ev.return_mean, steps=cand.train.steps, wall_s=cand.train.wall_s,
                           episode_scores=ev.episode_scores, cpu_s=cand.train.cpu_s),)
