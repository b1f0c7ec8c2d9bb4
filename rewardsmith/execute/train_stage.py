"""The train stage: every checked candidate of a generation trained and evaluated through an executor.

Successive halving (--halving; on by default where a fitness ranks and the trainer continues from checkpoints):
the budget B is split into rungs B/2^(R-1), ..., B/2, B with R = min(ceil(log2 K) + 1, MAX_RUNGS) for K
candidates, so the first rung is never below B/4. Every candidate trains to the first rung; after each rung the
better half by task score continues from its checkpoint to the next, the others stop there (Stop.HALVING)
with their curves and evaluation at that budget. The native trainer runs a rung's candidates in turns; the
population trainer trains each rung's candidates together in one job, the survivors of a rung re-laid as a new,
smaller population that continues from their checkpoints (one compile per rung). Ties at the cut continue
together: on a hard task where every score is still 0 at the first rung nobody is dropped at random. K = 4 costs
2 B of env steps instead of 4 B, K = 8 4 B instead of 8 B. A failed training stops its candidate at once; one that
reached success at a checkpoint (--stop-at-success) is done when its rung ends (Stop.SUCCESS): it needs no more
budget and takes no survivor's place. A continued candidate's training time adds up over its rungs.

--allocation adaptive spends the same budget another way where halving is on: slice by slice, each slice to the
candidate whose learning curve promises most (execute/allocate.py states the rule).

Why no rung below B/4: measured with `python -m rewardsmith.bench evolve --env hopper --task hop --samples 8
--steps 1000000`, a first rung at B/8 (125k steps) ranked the eight hoppers by noise (0.105-0.13, all standing
and falling alike) and stopped the three that went on to learn (1.0-1.9 at the full budget): the best with
halving was -0.001 against 1.90 without. At B/4 the ones that collapse have already collapsed.

With --train-seeds N each candidate is trained on N seeds (N requests, all handed to the executor at once); the
candidate is ranked by the mean task score over its seeds, and its first seed's policy is the one evaluated in
detail, reflected on and filmed. A candidate whose training fails on any seed fails (the reward is at fault or
unstable), with the seed named in the reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from rewardsmith.config import TrainConfig
from rewardsmith.context import RunContext
from rewardsmith.events import CandidateUpdate, RungStarted, TrainingEvent
from rewardsmith.execute.allocate import allocate, slots
from rewardsmith.execute.executors import Executor
from rewardsmith.execute.inherit import earn_mark, parent_policy
from rewardsmith.execute.sandboxed import TrainReport, TrainRequest
from rewardsmith.feedback.rankers import ranker
from rewardsmith.records import Candidate, SeedEvaluation, Status, Stop
from rewardsmith.runs.store import StoreError
from rewardsmith.train.trainers import child_budget, trainer

SEED_STRIDE = 1000  # seed k of a candidate trains with the run's seed + k * SEED_STRIDE (never a final-eval seed)


def seed_of(ctx: RunContext, k: int) -> int:
    """The seed of a candidate's k-th training: --train-seeds gives k < N; racing adds more (execute/racing.py)."""
    return ctx.cfg.seed + k * SEED_STRIDE


def seeds_of(ctx: RunContext) -> list[int]:
    return [seed_of(ctx, k) for k in range(ctx.cfg.train_seeds)]


def request_for(ctx: RunContext, cand: Candidate, k: int = 0, steps: int | None = None) -> TrainRequest:
    """Seed k's training of the candidate; with `steps` (a halving rung) to that budget, continuing from and saving
    its checkpoint."""
    assert cand.source is not None, "only checked candidates are trained"
    seed = seed_of(ctx, k)
    workdir = ctx.store.work_dir(cand.generation, cand.index) if k == 0 else \
        ctx.store.seed_work_dir(cand.generation, cand.index, seed)
    cfg = ctx.training_config(seed)
    if steps is not None:
        cfg = cfg.with_overrides(steps=steps)
    start = None
    if cand.inherits is not None:  # its parent's policy, a shorter budget, a success it earns (execute/inherit.py)
        cfg, start = inheriting(ctx, cand, cfg)
    together = trainer(ctx.cfg.trainer).together  # one job trains the generation: its directory
    return TrainRequest(key=f"{cand.id}#{k}", env=ctx.env.name, task=ctx.cfg.task, source=cand.source,
                        cfg=cfg, workdir=workdir, trainer=ctx.cfg.trainer, checkpoint=steps is not None,
                        group_dir=ctx.store.population_dir(cand.generation) if together else None, start=start)


def inheriting(ctx: RunContext, cand: Candidate, cfg: TrainConfig) -> tuple[TrainConfig, bytes]:
    """An inheriting child's training settings and its parent's policy file."""
    assert cand.inherits is not None, "only an inheriting candidate"
    parent = ctx.store.find_candidate(cand.inherits)
    path = parent_policy(ctx, parent)
    if path is None:
        raise StoreError(f"{cand.id} inherits {parent.id}'s policy, and {parent.id} has no policy.npz; the run "
                         "directory lost it")
    budget = child_budget(ctx.training_config().steps)
    steps = child_budget(cfg.steps)  # a halving rung: its share of the shorter budget
    return cfg.with_overrides(steps=steps, success_from_step=earn_mark(cfg, budget, ctx.task.episode_steps)), \
        path.read_bytes()


def halving_on(ctx: RunContext) -> bool:
    return ctx.cfg.halving if ctx.cfg.halving is not None else halving_default(ctx.cfg.feedback, ctx.cfg.trainer)


def halving_default(feedback: str, trainer_name: str) -> bool:
    """On where halving can work: a ranker with a task fitness to halve on, a trainer that continues a training."""
    return ranker(feedback).needs_fitness and trainer(trainer_name).continues


MAX_RUNGS = 3  # the first rung is at least a quarter of the budget (see the module's docstring)


def rung_budgets(full: int, count: int, max_rungs: int = MAX_RUNGS) -> list[int]:
    """The env-step budgets of the halving rungs for `count` candidates, the last one the full budget (`max_rungs`
    other than MAX_RUNGS: the schedules bench/fidelity.py compares)."""
    rungs = min(math.ceil(math.log2(count)) + 1, max_rungs) if count > 1 else 1
    return [full // 2 ** (rungs - 1 - r) for r in range(rungs)]


def survivors(candidates: list[Candidate]) -> list[Candidate]:
    """The better half (rounded up) by task score, best first; every candidate tied with the last one kept keeps
    going too."""
    keep = survivor_ids({c.id: rung_score(c) for c in candidates})
    return [c for c in sorted(candidates, key=rung_score, reverse=True) if c.id in keep]


def survivor_ids(scores: Mapping[str, float]) -> set[str]:
    """The cut on scores alone (id -> task score, -inf for none): what survivors keeps, and what bench/fidelity.py
    replays on measured scores."""
    if not scores:
        return set()
    cut = sorted(scores.values(), reverse=True)[math.ceil(len(scores) / 2) - 1]
    return {cid for cid, score in scores.items() if score >= cut}


def rung_score(cand: Candidate) -> float:
    """What a cut ranks by: the task score, -inf where there is none or it is NaN (which would make the sort, and so
    the cut, arbitrary)."""
    value = cand.fitness
    return value if value is not None and not math.isnan(value) else -math.inf


def trained(cand: Candidate, reports: list[TrainReport], seeds: list[int]) -> Candidate:
    """The candidate after all its seeds' trainings (reports in seed order). A candidate continued from an earlier
    halving rung (it comes in evaluated) keeps counting its training time: the time (wall and CPU) of every rung is
    summed."""
    for seed, report in zip(seeds, reports, strict=True):
        if not report.ok:
            on_seed = f" (seed {seed})" if len(seeds) > 1 else ""
            return cand.replace(status=Status.TRAIN_FAILED, reason=f"training failed{on_seed}: {report.reason}")
    # keyed by the seed that trained it: a racing seed (execute/racing.py) is another seed, not a continuation
    before = {s.seed: s.wall_s for s in cand.seeds} or ({cand.train.seed: cand.train.wall_s} if cand.train else {})
    cpu_before = {s.seed: s.cpu_s for s in cand.seeds} or ({cand.train.seed: cand.train.cpu_s} if cand.train else {})
    per_seed = tuple(
        SeedEvaluation(seed=seed, fitness_mean=r.evaluation.fitness_mean, success_rate=r.evaluation.success_rate,
                       return_mean=r.evaluation.return_mean, steps=r.train.steps,
                       wall_s=r.train.wall_s + before.get(seed, 0.0), episode_scores=r.evaluation.episode_scores,
                       cpu_s=r.train.cpu_s + cpu_before.get(seed, 0.0))
        for seed, r in zip(seeds, reports, strict=True) if r.evaluation is not None and r.train is not None)
    first = reports[0]
    assert first.train is not None, "an ok report carries its training"
    train = dataclasses.replace(first.train, wall_s=first.train.wall_s + before.get(seeds[0], 0.0),
                                cpu_s=first.train.cpu_s + cpu_before.get(seeds[0], 0.0))
    return cand.replace(status=Status.EVALUATED, train=train, evaluation=first.evaluation,
                        seeds=per_seed if len(seeds) > 1 else (),
                        stop=Stop.SUCCESS if train.reached_success else Stop.BUDGET)


def final_candidate(ctx: RunContext, cand: Candidate) -> Candidate:
    """A candidate whose training is final: saved at once and reported."""
    ctx.store.save_candidate(cand)
    ctx.report(CandidateUpdate(cand.id, cand.status, cand.reason, cand.stop, cand.train.steps if cand.train else None))
    return cand


def train_all(ctx: RunContext, candidates: list[Candidate], executor: Executor) -> list[Candidate]:
    """Trains the CHECKED candidates (a resumed run skips those already trained, and a resumed halving goes on
    from the survivors' checkpoints); saves each candidate as soon as its training is final."""
    by_id = {c.id: c for c in candidates}
    todo = [c for c in candidates if c.status is Status.CHECKED]

    def final(cand: Candidate) -> None:
        by_id[cand.id] = final_candidate(ctx, cand)

    if not halving_on(ctx) or len(todo) < 2:
        train_rung(ctx, todo, executor, None, on_done=final)
        return [by_id[c.id] for c in candidates]
    if ctx.cfg.allocation == "adaptive":  # halving's budget, slice by slice to the most promising curve
        together = trainer(ctx.cfg.trainer).together  # a round is one job: at most halving's second rung
        width = math.ceil(len(todo) / 2) if together else max(1, slots(executor) // len(seeds_of(ctx)))
        generation = rung_budgets(ctx.training_config().steps, sum(c.status.passed_check for c in candidates))
        allocate(ctx, candidates, todo, generation, lambda cands, steps, done: train_rung(ctx, cands, executor,
                 steps, done), final, rung_score, width, together)
        return [by_id[c.id] for c in candidates]
    budgets = rung_budgets(ctx.training_config().steps, len(todo))
    for rung, budget in enumerate(budgets):
        if not todo:  # every candidate reached success (or failed) on an earlier rung: nothing left to train
            break
        last = rung == len(budgets) - 1
        ctx.report(RungStarted(rung + 1, len(budgets), budget, tuple(c.id for c in todo)))
        # on the last rung each candidate is final when done; before it, a failure is final at once
        def on_done(cand: Candidate, last: bool = last) -> None:
            if last or cand.status is not Status.EVALUATED:
                final(cand)

        results = train_rung(ctx, todo, executor, budget, on_done=on_done)
        if last:
            break
        going = [c for c in results if c.status is Status.EVALUATED and c.stop is not Stop.SUCCESS]
        for cand in results:  # one that reached success is done: it needs no more budget
            if cand.stop is Stop.SUCCESS:
                final(cand)
        keep = {c.id for c in survivors(going)}
        for cand in going:
            if cand.id not in keep:
                final(cand.replace(stop=Stop.HALVING))
        todo = [c for c in going if c.id in keep]  # evaluated: the next rung continues them and adds up their time
    return [by_id[c.id] for c in candidates]


def train_rung(ctx: RunContext, todo: list[Candidate], executor: Executor, steps: int | Mapping[str, int] | None,
               on_done: Callable[[Candidate], None]) -> list[Candidate]:
    """Every seed of every candidate in `todo` trained (to `steps`, continuing, on a halving rung; a mapping: each
    candidate's own target by id, adaptive allocation's round); `on_done` gets each candidate as soon as all its
    seeds are done; returns them in `todo`'s order."""
    seeds = seeds_of(ctx)
    requests = [request_for(ctx, c, k, steps[c.id] if isinstance(steps, Mapping) else steps)
                for c in todo for k in range(len(seeds))]
    done: dict[str, dict[int, TrainReport]] = {c.id: {} for c in todo}
    results: dict[str, Candidate] = {}
    by_id = {c.id: c for c in todo}

    def on_progress(event: TrainingEvent) -> None:  # a candidate's first seed is shown as the candidate itself
        ctx.report(dataclasses.replace(event, id=event.id.removesuffix("#0")))

    for report in executor.run(requests, on_progress):
        cand_id, k = report.key.rsplit("#", 1)
        done[cand_id][int(k)] = report
        if len(done[cand_id]) == len(seeds):
            results[cand_id] = trained(by_id[cand_id], [done[cand_id][i] for i in range(len(seeds))], seeds)
            on_done(results[cand_id])
    return [results[c.id] for c in todo]
