"""Rank fidelity of the early stops (issue 24 item 5): does a ranking made on partial training keep the reward that
wins at the full budget? Successive halving cuts on its first rungs' task scores and --stop-at-success stops on a
success rate met early; published work (RHyVE, 2026) finds rankings at low policy competence unreliable.

For G LLM-free generations of K candidates (the programs evolve makes: seeded mutations, generation 0 with the
task's reference reward, each next generation mutating the run's best as the ranker picks it at the full budget),
EVERY candidate trains through every budget of the compared schedules (B/8, B/4, B/2, B) without a cut, each step
continuing from its checkpoint and evaluated there exactly as a halving rung is. Per generation:

  Kendall tau   tau-b between a rung's ranking by task score (as train_stage.survivors ranks) and the ranking at B
  first cut     the best at B (by task score) is among the first rung's survivors
  every cut     halving would have trained it to B
  loss          the best task score at B minus the best of those halving would have trained to B
  cost          the env steps halving would have spent, in units of B (K B without halving)

for each schedule with first rung B/8 (4 rungs), B/4 (3: MAX_RUNGS today) and B/2 (2), simulated by the real cut
rule on the measured scores; plus, for --stop-at-success, how many candidates that met the stop's success rate at a
rung still meet it at B. Lines and their means over the generations are printed; the scores go to RUN/fidelity.json.

One chain of trainings stands for every schedule: a candidate at B/4 here went through a B/8 checkpoint that a
schedule starting at B/4 does not make. The learning rate is constant and the checkpoint keeps the optimizer, the
normalizers and the sampling generator, so the only difference is that a continued training starts fresh episodes.
Candidates whose training fails at some budget take no part: halving stops them at once under every schedule.

    python -m rewardsmith.bench evolve --fidelity [--env hopper --task hop --samples 8 --steps 1000000 --seed 0
                                                   --generations 2]
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.config import RunConfig
from rewardsmith.context import RunContext, open_run
from rewardsmith.env.registry import get_env, resolve_task
from rewardsmith.errors import UserError
from rewardsmith.evolve import checked_generation, prepare
from rewardsmith.execute.executors import Executor, make_executor
from rewardsmith.execute.train_stage import (
    MAX_RUNGS,
    final_candidate,
    rung_budgets,
    rung_score,
    survivor_ids,
    train_rung,
)
from rewardsmith.feedback.rankers import RANKERS
from rewardsmith.records import Candidate, Status
from rewardsmith.runs.store import RunStore, new_run_id, read_json, write_record

COMPARED_RUNGS = (4, 3, 2)  # max rungs of the compared schedules: first rung B/8, B/4, B/2 (for K >= 5)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two score lists over the same items (higher is better; ties on either side count as
    ties, not as agreement); None when undefined (fewer than two items, or every score on one side equal)."""
    concordant = discordant = ties_x = ties_y = pairs = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            pairs += 1
            dx, dy = _sign(x[i], x[j]), _sign(y[i], y[j])  # signs, not differences: -inf - -inf is NaN
            ties_x += dx == 0
            ties_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denominator if denominator else None


def _sign(a: float, b: float) -> int:
    return (a > b) - (a < b)


Scores = dict[str, float]  # candidate id -> task score at one budget (-inf: none)


def halving_path(rungs: Sequence[Scores]) -> list[set[str]]:
    """The ids halving trains at each rung: all at the first, then after every rung but the last the survivors of
    those still going (train_stage.survivor_ids, the cut halving makes); rungs[r] scores every candidate at rung r."""
    going = set(rungs[0])
    path = [going]
    for rung in rungs[:-1]:
        going = survivor_ids({cid: score for cid, score in rung.items() if cid in going})
        path.append(going)
    return path


@dataclass(frozen=True)
class Outcome:
    """What one halving schedule would have done with a generation (see the module's docstring)."""

    first_cut: bool
    every_cut: bool
    loss: float
    cost: float


def halving_outcome(rungs: Sequence[Scores], budgets: Sequence[int]) -> Outcome:
    """rungs[r]: every candidate's task score at budgets[r], the last the full budget."""
    full = rungs[-1]
    top = max(full.values())
    best = {cid for cid, score in full.items() if score == top}  # a tie for best: any of them counts
    path = halving_path(rungs)
    reached = max(full[cid] for cid in path[-1])
    steps = sum(len(going) * (budget - before)
                for going, budget, before in zip(path, budgets, [0, *budgets[:-1]], strict=True))
    return Outcome(first_cut=bool(best & path[min(1, len(path) - 1)]), every_cut=bool(best & path[-1]),
                   loss=0.0 if reached == top else top - reached, cost=steps / budgets[-1])


def still_successful(early: Scores, full: Scores, rate: float) -> tuple[int, int]:
    """Success rates (id -> rate) early and at the full budget: (how many met `rate` early, how many of those still
    meet it at the full budget)."""
    met = [cid for cid, value in early.items() if value >= rate]
    return len(met), sum(full[cid] >= rate for cid in met)


@dataclass(frozen=True)
class GenerationFidelity:
    """One generation's candidates measured at each budget (the same ids at each)."""

    gen: int
    budgets: tuple[int, ...]  # ascending, the last the full budget
    scores: tuple[Scores, ...]  # per budget
    success: tuple[Scores, ...]  # per budget: id -> success rate (0 where none)

    @classmethod
    def of(cls, gen: int, budgets: Sequence[int], rungs: Sequence[Sequence[Candidate]]) -> GenerationFidelity:
        return cls(gen, tuple(budgets), tuple({c.id: rung_score(c) for c in rung} for rung in rungs),
                   tuple({c.id: c.success_rate or 0.0 for c in rung} for rung in rungs))

    def at(self, budget: int) -> Scores:
        return self.scores[self.budgets.index(budget)]

    def tau(self, budget: int) -> float | None:
        ids = list(self.scores[-1])
        return kendall_tau_b([self.at(budget)[cid] for cid in ids], [self.scores[-1][cid] for cid in ids])

    def outcome(self, schedule: Sequence[int]) -> Outcome:
        return halving_outcome([self.at(b) for b in schedule], schedule)

    def to_dict(self) -> dict:
        """JSON: a task score of -inf (none) is written as null."""
        return {"gen": self.gen, "budgets": list(self.budgets),
                "task_score": {cid: [s[cid] if math.isfinite(s[cid]) else None for s in self.scores]
                               for cid in self.scores[0]},
                "success_rate": {cid: [s[cid] for s in self.success] for cid in self.success[0]}}

    @classmethod
    def from_dict(cls, data: dict) -> GenerationFidelity:
        budgets = tuple(int(b) for b in data["budgets"])
        per_budget = [{cid: values[r] for cid, values in data[name].items()} for name in ("task_score", "success_rate")
                      for r in range(len(budgets))]
        scores = tuple({cid: -math.inf if v is None else float(v) for cid, v in rung.items()}
                       for rung in per_budget[:len(budgets)])
        success = tuple({cid: float(v or 0.0) for cid, v in rung.items()} for rung in per_budget[len(budgets):])
        return cls(int(data["gen"]), budgets, scores, success)


def schedules(full: int, samples: int) -> dict[tuple[int, ...], int]:
    """The compared halving schedules for K candidates, each with its max rungs (the first where two coincide)."""
    found: dict[tuple[int, ...], int] = {}
    for most in COMPARED_RUNGS:
        found.setdefault(tuple(rung_budgets(full, samples, most)), most)
    return found


def fraction(budget: int, full: int) -> str:
    return "B" if budget == full else f"B/{round(full / budget)}"


def report_lines(gens: Sequence[GenerationFidelity], samples: int, stop_rate: float | None) -> list[str]:
    """The printed result: per rung the Kendall tau, per schedule the survival of the best, the loss and the cost;
    means over the generations with each generation's value in brackets."""
    lines = []
    full = gens[0].budgets[-1]
    for budget in gens[0].budgets[:-1]:
        taus = [g.tau(budget) for g in gens]
        known = [t for t in taus if t is not None]
        mean = f"{sum(known) / len(known):+.2f}" if known else "n/a"
        lines.append(f"rung {fraction(budget, full)} ({budget:,} steps): Kendall tau with the ranking at B {mean} "
                     f"(per generation {', '.join('n/a' if t is None else f'{t:+.2f}' for t in taus)})")
    for schedule, most in schedules(full, samples).items():
        outcomes = [g.outcome(schedule) for g in gens]
        today = " [today]" if most == MAX_RUNGS else ""
        lines.append(
            f"first rung {fraction(schedule[0], full)} (rungs {', '.join(fraction(b, full) for b in schedule)})"
            f"{today}: the best at B survived the first cut in {sum(o.first_cut for o in outcomes)}/{len(gens)} "
            f"generations, every cut in {sum(o.every_cut for o in outcomes)}/{len(gens)}; task score lost "
            f"{_mean([o.loss for o in outcomes]):.3f} ({', '.join(f'{o.loss:.3f}' for o in outcomes)}); env steps "
            f"{_mean([o.cost for o in outcomes]):.2f} B (K = {samples} without halving: {samples} B)")
    return lines if stop_rate is None else lines + success_lines(gens, stop_rate)


def success_lines(gens: Sequence[GenerationFidelity], stop_rate: float) -> list[str]:
    """For --stop-at-success: does a success rate met at a rung last to the full budget?"""
    lines = []
    full = gens[0].budgets[-1]
    for budget in gens[0].budgets[:-1]:
        counts = [still_successful(g.success[g.budgets.index(budget)], g.success[-1], stop_rate) for g in gens]
        met, kept = sum(m for m, _ in counts), sum(k for _, k in counts)
        lines.append(f"stop at success: {met} candidate(s) met success rate {stop_rate} at {fraction(budget, full)}, "
                     f"{kept} of them still meet it at B")
    return lines


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def measure(cfg: RunConfig, out: Path, echo: Callable[[str], None]) -> tuple[RunContext, list[GenerationFidelity]]:
    """cfg.iterations generations, every checked candidate trained through every compared rung budget (the module's
    docstring); the next generation mutates the ranker's pick among the full-budget candidates."""
    env, task = prepare(cfg)
    store = RunStore.create(out, new_run_id(cfg.env, cfg.task), cfg)
    ctx = RunContext(store, cfg, env, task, lambda event: None)
    executor = make_executor(cfg)
    ranker = RANKERS.get(cfg.feedback).make(ctx)
    parent, gens = None, []
    try:
        for gen in range(cfg.iterations):
            candidates = checked_generation(ctx, gen, parent)
            measured, final = _trained_through_rungs(ctx, gen, candidates, executor, echo)
            gens.append(measured)
            selection = ranker.rank(gen, final, parent)
            store.save_selection(selection)
            parent = store.find_candidate(selection.best_overall) if selection.best_overall else parent
            echo(f"generation {gen}: next parent {parent.id if parent else None}")
    finally:
        ranker.close()
    return ctx, gens


def _trained_through_rungs(ctx: RunContext, gen: int, candidates: list[Candidate], executor: Executor,
                           echo: Callable[[str], None]) -> tuple[GenerationFidelity, list[Candidate]]:
    """Every checked candidate trained to each budget in turn, continuing from its checkpoint, never cut."""
    full = ctx.training_config().steps
    todo = [c for c in candidates if c.status is Status.CHECKED]
    if len(todo) < 2:
        raise ValueError(f"generation {gen}: {len(todo)} candidate(s) passed the check; ranking needs two")
    budgets = sorted({b for schedule in schedules(full, ctx.cfg.samples) for b in schedule})
    by_budget: list[dict[str, Candidate]] = []
    final = {c.id: c for c in candidates}
    for budget in budgets:
        start = time.monotonic()

        def done_one(cand: Candidate, budget: int = budget) -> None:  # progress: a rung of K trainings is long
            final[cand.id] = cand
            echo(f"  {cand.id} at {budget:,} steps: {cand.status}" + (
                f", task score {cand.fitness:.4g}, success {cand.success_rate}" if cand.fitness is not None else ""))

        done = train_rung(ctx, todo, executor, budget, on_done=done_one)
        by_budget.append({c.id: c for c in done})
        todo = [c for c in done if c.status is Status.EVALUATED]
        echo(f"  budget {budget:,}: {len(done)} trained in {time.monotonic() - start:.0f} s")
    for cand in final.values():
        if cand.status is not Status.CHECK_FAILED:
            final_candidate(ctx, cand)
    kept = [c.id for c in todo]  # evaluated at every budget
    rungs = [[rung[cid] for cid in kept] for rung in by_budget]
    return GenerationFidelity.of(gen, budgets, rungs), list(final.values())


def fidelity(env: str, task: str, samples: int, steps: int, seed: int, generations: int) -> list[str]:
    """The benchmark's command: measures, writes RUN/fidelity.json and returns the printed lines."""
    cfg = RunConfig(env=env, task=task, iterations=generations, samples=samples, train_steps=steps, seed=seed,
                    video=False, halving=False, race_seeds=0, final_seeds=0)
    out = Path(tempfile.mkdtemp(prefix="rewardsmith-bench-fidelity-"))
    start = time.monotonic()
    ctx, gens = measure(cfg, out, lambda line: print(line, flush=True))
    write_record(ctx.store.root / "fidelity.json", {"wall_s": time.monotonic() - start,
                                                    "generations": [g.to_dict() for g in gens]})
    return pooled([ctx.store.root])


def pooled(runs: Sequence[Path]) -> list[str]:
    """The lines over the generations of one or more finished fidelity runs (seeds run apart, pooled here); they
    must share env, task, K and B. UserError (one line) otherwise."""
    stores = [open_run(run) for run in runs]
    cfgs = [store.config() for store in stores]
    if len({(c.env, c.task, c.samples, c.train_steps) for c in cfgs}) > 1:
        raise UserError("pooled fidelity runs must share env, task, --samples and --steps: "
                        + "; ".join(f"{s.root.name}: {c.env}/{c.task} K={c.samples} B={c.train_steps}"
                                    for s, c in zip(stores, cfgs, strict=True)))
    records = []
    for store in stores:
        if not (store.root / "fidelity.json").is_file():
            raise UserError(f"{store.root} has no fidelity.json: not a finished `bench evolve --fidelity` run")
        records.append(read_json(store.root / "fidelity.json"))
    gens = [GenerationFidelity.from_dict(g) for record in records for g in record["generations"]]
    cfg = cfgs[0]
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    # --stop-at-success's threshold; a task without a success threshold has nothing to stop on
    stop_rate = RunContext(stores[0], cfg, env, task, lambda event: None).training_config().stop_success_rate \
        if task.success_threshold is not None else None
    full = gens[0].budgets[-1]
    header = (f"rank fidelity, {cfg.env}/{cfg.task}, K = {cfg.samples}, B = {full:,} env steps, seed(s) "
              f"{', '.join(str(c.seed) for c in cfgs)}, {len(gens)} generations, every candidate trained to "
              f"{', '.join(fraction(b, full) for b in gens[0].budgets)}: "
              f"{' + '.join(format(r['wall_s'], '.0f') for r in records)} s")
    return [header, *(f"  {line}" for line in report_lines(gens, cfg.samples, stop_rate))]
