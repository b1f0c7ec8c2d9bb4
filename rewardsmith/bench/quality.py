"""The quality benchmark: does evolution find rewards as good as a person's? (issues 15 and 27)

For each task: evolve (metrics feedback), then retrain the best reward, the task's reference reward and the task's
sparse reward (its per-step score as the only term) on the same fresh seeds at the same budget, and measure a uniform
random policy with the same evaluation code. The report gives fitness mean ± std over seeds, success rates, the
human-normalised score (floor: the sparse reward) and the random-normalised score (floor: the random policy),
whether evolved beats the reference beyond the seed spread and whether it is at least the reference (with the share
of tasks for each), what each task cost (the evolve's run_cost, the retrains' own steps and CPU seconds), and the
share of the evolved policy's evaluation episodes that match a known exploit (rewardsmith/evaluate/exploits.py).
The rules are quality_rules.py's, stated in every report; the report is quality_report.py's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.bench.quality_rules import (
    NormalisedScore,
    Stat,
    at_least_reference,
    beats_reference,
    human_normalised_score,
    random_normalised_score,
)
from rewardsmith.config import RunConfig, TrainConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import EnvSpec, get_env
from rewardsmith.env.sparse import sparse_reward_source
from rewardsmith.env.task import Task
from rewardsmith.errors import UserError
from rewardsmith.evaluate.exploits import ExploitShare, exploit_share
from rewardsmith.evaluate.trace import Trace, TraceError, read_trace
from rewardsmith.events import BenchTask, Report, Retraining
from rewardsmith.evolve import evolve, prepare
from rewardsmith.execute.seeds import MultiSeedSummary, train_seeds
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED, Candidate, Status
from rewardsmith.runs.cost import RunCost, run_cost
from rewardsmith.runs.store import RunStore, new_run_id, write_text
from rewardsmith.train.rollouts import evaluate

ORIGIN_LABELS = {"mutation": "LLM-free mutations", "init": "the --init reward"}
RETRAINS = ("evolved", "reference", "sparse")  # the benchmark's own trainings, each on the fresh seeds


# ---------------------------------------------------------------------------------------------------------- records



@dataclass(frozen=True)
class ModelStats:
    """One model's share of an evolve run; programs not written by an LLM are counted under their origin
    (ORIGIN_LABELS)."""

    model: str
    candidates: int
    passed_check: int
    evaluated: int
    mean_fitness: float | None  # over its evaluated candidates, during the evolve
    best_id: str | None
    best_fitness: float | None  # the best task score of its candidates during the evolve (one seed)


@dataclass(frozen=True)
class RetrainCost:
    """What the benchmark's own retrains of one reward cost: the training steps and CPU seconds (training and its
    evaluation) of every seed that trained (SeedResult's)."""

    env_steps: int
    cpu_s: float

    @classmethod
    def of(cls, summary: MultiSeedSummary | None) -> RetrainCost:
        seeds = summary.seeds if summary else ()
        return cls(sum(s.steps or 0 for s in seeds), sum(s.cpu_s for s in seeds))


@dataclass(frozen=True)
class TaskResult:
    env: str
    task: str
    fitness_version: int
    train_steps: int  # per training, evolve and retrains alike
    seeds: tuple[int, ...]  # the fresh seeds of every retrain
    run_dir: str
    best_id: str | None
    best_model: str | None
    best_is_reference: bool  # the evolve kept the reference's own program (its retrain is then the reference's)
    evolve_fitness: float | None  # the winner's task score during the evolve (one seed)
    evolved: MultiSeedSummary | None  # None: no evolved reward trained
    reference: MultiSeedSummary
    sparse: MultiSeedSummary
    random_fitness: Stat
    human_normalised: NormalisedScore
    random_normalised: NormalisedScore
    beats_reference: bool
    at_least_reference: bool
    exploits: ExploitShare | None  # the evolved retrains' evaluation episodes; None: no detector or no trace
    models: tuple[ModelStats, ...]
    evolve_cost: RunCost  # run_cost of the evolve run
    retrain_cost: dict[str, RetrainCost]  # RETRAINS -> cost (evolved: nothing when it is the reference)
    wall_s: dict[str, float]  # evolve, retrain, random, total

    def summary(self, which: str) -> MultiSeedSummary | None:
        return {"evolved": self.evolved, "reference": self.reference, "sparse": self.sparse}[which]

    def fitness(self, which: str) -> Stat | None:
        summary = self.summary(which)
        return summary_stat(summary, "fitness") if summary else None

    def success(self, which: str) -> Stat | None:
        summary = self.summary(which)
        return summary_stat(summary, "success_rate") if summary else None

    def to_dict(self) -> dict[str, Any]:
        exploits = self.exploits
        return {
            "env": self.env, "task": self.task, "fitness_version": self.fitness_version,
            "train_steps": self.train_steps, "seeds": list(self.seeds), "run_dir": self.run_dir,
            "best_id": self.best_id, "best_model": self.best_model, "best_is_reference": self.best_is_reference,
            "evolve_fitness": self.evolve_fitness,
            **{which: summary.to_dict() if (summary := self.summary(which)) else None for which in RETRAINS},
            "random_fitness": dataclasses.asdict(self.random_fitness),
            "human_normalised_score": self.human_normalised.value,
            "human_normalised_undefined_reason": self.human_normalised.reason,
            "random_normalised_score": self.random_normalised.value,
            "random_normalised_undefined_reason": self.random_normalised.reason,
            "beats_reference": self.beats_reference, "at_least_reference": self.at_least_reference,
            "exploits": None if exploits is None else {**dataclasses.asdict(exploits), "share": exploits.share},
            "models": [dataclasses.asdict(m) for m in self.models],
            "cost": {"evolve": self.evolve_cost.to_dict(),
                     "retrain": {k: dataclasses.asdict(v) for k, v in self.retrain_cost.items()}},
            "wall_s": self.wall_s,
        }


# ----------------------------------------------------------------------------------------------- the pure parts


class RandomPolicy:
    """Uniform random actions in [-1, 1] from a seeded generator: the floor of the random-normalised score."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, action_dim: int) -> np.ndarray:
        batch = obs.shape[:-1]
        return self.rng.uniform(-1.0, 1.0, (*batch, action_dim))


def summary_stat(summary: MultiSeedSummary, field: str) -> Stat | None:
    return Stat.of([getattr(r, field) for r in summary.seeds if r.ok and getattr(r, field) is not None])


def model_stats(candidates: Sequence[Candidate]) -> tuple[ModelStats, ...]:
    """Per model: how many candidates it wrote, how many passed the check, were evaluated, and its best."""
    by_model: dict[str, list[Candidate]] = {}
    for cand in candidates:
        by_model.setdefault(cand.model or ORIGIN_LABELS.get(cand.origin, cand.origin), []).append(cand)
    stats = []
    for model, cands in by_model.items():
        scored = [(c.fitness, c.id) for c in cands if c.fitness is not None]
        best = max(scored, key=lambda pair: pair[0]) if scored else None  # ties: the earliest candidate
        stats.append(ModelStats(model, len(cands), sum(c.status.passed_check for c in cands),
                                sum(c.status is Status.EVALUATED for c in cands),
                                sum(f for f, _ in scored) / len(scored) if scored else None,
                                best[1] if best else None, best[0] if best else None))
    return tuple(stats)


def parse_task(spec: str) -> tuple[str, str, int | None]:
    """'env/task' or 'env/task:steps' -> (env, task, steps or None); UserError (one line) on anything else."""
    name, colon, steps = spec.strip().partition(":")
    env_name, slash, task_name = name.partition("/")
    if not slash or not env_name or not task_name or "/" in task_name or (colon and not steps.isdigit()):
        raise UserError(f"--tasks wants env/task or env/task:steps, e.g. cartpole/balance,hopper/hop:300000; "
                         f"got {spec!r}")
    if colon and int(steps) < 1:
        raise UserError(f"the steps of {spec!r} must be a positive integer")
    return env_name, task_name, int(steps) if colon else None


def check_task(env_name: str, task_name: str) -> tuple[EnvSpec, Task]:
    """A registered task with a fitness and a reference reward; UserError (one line) otherwise."""
    env = get_env(env_name)
    task = env.task(task_name)
    if not task.has_fitness:
        raise UserError(f"{env_name}/{task_name} has no fitness metric, so it cannot be benchmarked")
    if not env.reference_reward_path(task.name).is_file():
        raise UserError(f"{env_name}/{task_name} has no reference reward (envs/{env_name}/rewards/{task_name}.py)")
    return env, task


# ------------------------------------------------------------------------------------------------ the measuring


def random_policy_fitness(env: EnvSpec, task: Task, reference_source: str, episodes: int,
                          seeds: Sequence[int]) -> Stat:
    """The random policy's fitness (mean over `episodes` episodes) on each seed's evaluation episodes (seed s on
    EVAL_SEED + s, as train_seeds evaluates the trained ones)."""
    reward = load_reward(reference_source)  # the reference is trusted code; it only adds the return and term stats
    per_seed = []
    for seed in seeds:
        evaluation, _ = evaluate(env, task, reward, RandomPolicy(seed), episodes, EVAL_SEED + seed, trace=False)
        per_seed.append(evaluation.fitness_mean)
    stat = Stat.of([v for v in per_seed if v is not None])
    if stat is None:
        raise ValueError(f"the random policy's fitness on {env.name}/{task.name} is not finite")
    return stat


def seed_traces(env: EnvSpec, task: Task, summary: MultiSeedSummary, folder: Path) -> list[Trace]:
    """The evaluation traces of the seeds that trained (folder/seed_<s>/trace.npz, train_seeds' layout); a seed whose
    trace is missing or unreadable is left out."""
    traces = []
    for seed in (s.seed for s in summary.seeds if s.ok):
        try:
            traces.append(read_trace(folder / f"seed_{seed}" / "trace.npz", task.episode_steps))
        except TraceError:
            continue
    return traces


@dataclass(frozen=True)
class _Retrained:
    evolved: MultiSeedSummary | None
    evolved_dir: Path | None
    reference: MultiSeedSummary
    sparse: MultiSeedSummary
    best_is_reference: bool


def _retrain(cfg: RunConfig, env: EnvSpec, task: Task, best: Candidate | None, train_cfg: TrainConfig,
             fresh: list[int], folder: Path, report: Report) -> _Retrained:
    """The reference, the sparse reward and the evolved best trained on the same fresh seeds (folder/<which>)."""
    def train(which: str, label: str, source: str) -> MultiSeedSummary:
        report(Retraining(label, tuple(fresh)))
        return train_seeds(env, task.name, source, train_cfg, fresh, folder / which, report, cfg.trainer)

    reference_source = env.reference_reward_path(task.name).read_text()
    sparse_source = sparse_reward_source(env.name, task)
    write_text(folder / "sparse_reward.py", sparse_source)  # what the sparse retrain trained, for the reader
    reference = train("reference", "reference", reference_source)
    sparse = train("sparse", "sparse (the task score alone)", sparse_source)
    best_is_reference = best is not None and (best.source or "").strip() == reference_source.strip()
    if best is None or best.source is None:
        return _Retrained(None, None, reference, sparse, best_is_reference)
    if best_is_reference:  # the same program on the same seeds: its retrain is the reference's
        return _Retrained(reference, folder / "reference", reference, sparse, True)
    return _Retrained(train("evolved", f"evolved {best.id}", best.source), folder / "evolved", reference, sparse,
                      False)


def run_task(cfg: RunConfig, seeds: int, out: Path, report: Report = lambda event: None) -> TaskResult:
    """Evolve one task, retrain the winner, the reference and the sparse reward on `seeds` fresh seeds, measure the
    random policy, look for exploits in the winner's evaluation episodes."""
    env, task = prepare(cfg)
    start = time.perf_counter()
    store = RunStore.create(out / "runs", new_run_id(cfg.env, cfg.task), cfg)
    best = evolve(store, cfg, report).best
    evolved_at = time.perf_counter()

    train_cfg: TrainConfig = RunContext(store, cfg, env, task, report).training_config()
    fresh = [cfg.seed + 1 + i for i in range(seeds)]  # the evolve trained on cfg.seed; the same seeds for all
    done = _retrain(cfg, env, task, best, train_cfg, fresh, out / "retrain" / store.root.name, report)
    retrained_at = time.perf_counter()

    reference_source = env.reference_reward_path(task.name).read_text()
    random = random_policy_fitness(env, task, reference_source, train_cfg.eval_episodes, fresh)
    finished = time.perf_counter()
    fitness = {which: summary_stat(s, "fitness") if s else None
               for which, s in (("evolved", done.evolved), ("reference", done.reference), ("sparse", done.sparse))}
    exploits = (exploit_share(env, task.name, seed_traces(env, task, done.evolved, done.evolved_dir))
                if done.evolved is not None and done.evolved_dir is not None else None)
    candidates = [c for gen in store.generations() for c in store.candidates(gen)]
    return TaskResult(
        env=env.name, task=task.name, fitness_version=task.fitness_version, train_steps=train_cfg.steps,
        seeds=tuple(fresh), run_dir=str(store.root), best_id=best.id if best else None,
        best_model=best.model if best else None, best_is_reference=done.best_is_reference,
        evolve_fitness=best.fitness if best else None, evolved=done.evolved, reference=done.reference,
        sparse=done.sparse, random_fitness=random,
        human_normalised=human_normalised_score(fitness["evolved"], fitness["reference"], fitness["sparse"]),
        random_normalised=random_normalised_score(fitness["evolved"], fitness["reference"], random),
        beats_reference=beats_reference(fitness["evolved"], fitness["reference"]),
        at_least_reference=at_least_reference(fitness["evolved"], fitness["reference"]),
        exploits=exploits, models=model_stats(candidates), evolve_cost=run_cost(store),
        retrain_cost={"evolved": RetrainCost.of(None if done.best_is_reference else done.evolved),
                      "reference": RetrainCost.of(done.reference), "sparse": RetrainCost.of(done.sparse)},
        wall_s={"evolve": evolved_at - start, "retrain": retrained_at - evolved_at, "random": finished - retrained_at,
                "total": finished - start},
    )


def run_benchmark(base: RunConfig, tasks: Sequence[str], seeds: int, out: Path,
                  report: Report = lambda event: None,
                  on_task: Callable[[list[TaskResult]], None] = lambda results: None) -> list[TaskResult]:
    """Every task in turn (all checked up front, before anything runs); `on_task` gets every result so far after each
    task (the command rewrites the report there: quality_report.py reads these records, so it is not imported here).
    A task's budget: its own `:steps` in `tasks`, else base.train_steps, else the task's budget."""
    if seeds < 1:
        raise UserError(f"--seeds must be a positive integer, got {seeds}")
    if not tasks:
        raise UserError("--tasks is empty; give env/task pairs such as cartpole/balance,pendulum/swingup")
    configs = []
    for spec in tasks:
        env_name, task_name, steps = parse_task(spec)
        env, task = check_task(env_name, task_name)
        # final_seeds=0: the benchmark retrains the evolved best (and the reference) on its own fresh seeds
        cfg = dataclasses.replace(base, env=env.name, task=task.name, train_steps=steps or base.train_steps,
                                  final_seeds=0)
        prepare(cfg)
        configs.append(cfg)
    results: list[TaskResult] = []
    for cfg in configs:
        report(BenchTask(f"{cfg.env}/{cfg.task}"))
        results.append(run_task(cfg, seeds, out, report))
        on_task(list(results))
    return results
