"""The quality benchmark: does evolution find rewards as good as a person's? (issue 15, item 3)

For each task: evolve (metrics feedback), then retrain the best reward and the task's reference reward on the same
fresh seeds at the same budget, and measure a uniform random policy with the same evaluation code. The report gives
fitness mean ± std over seeds, success rates, Eureka's human-normalised score
(evolved − random) / (reference − random), and whether evolved beats reference beyond the seed spread.

The rules (pure functions below, stated in every report):
- NOISE: the reference is "within noise" of the random policy when |reference − random| <= max(reference's std over
  seeds, random policy's std over seeds, EPSILON); then the normalised score is undefined (a reference that has not
  learned at this budget is no yardstick). It is also undefined when the reference is below the random policy
  (the ratio would flip sign) and when no evolved reward trained.
- BEATS: evolved beats reference when evolved mean − evolved std > reference mean + reference std (std over seeds,
  population std as MultiSeedSummary computes it); a task whose evolved or reference training failed on every seed
  does not count as a win.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.config import RunConfig, TrainConfig
from rewardsmith.context import RunContext
from rewardsmith.env.registry import EnvSpec, get_env
from rewardsmith.env.task import Task
from rewardsmith.errors import UserError
from rewardsmith.events import BenchTask, Report, Retraining
from rewardsmith.evolve import evolve, prepare
from rewardsmith.execute.seeds import MultiSeedSummary, train_seeds
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED, Candidate, Status
from rewardsmith.runs.show import generation_rows
from rewardsmith.runs.store import RunStore, new_run_id, write_json, write_text
from rewardsmith.train.rollouts import evaluate

EPSILON = 1e-3  # absolute floor of "noise", in the task's fitness units
NOISE_RULE = (f"normalised score undefined when |reference − random| <= max(reference seed std, random seed std, "
              f"{EPSILON:g}), or when reference < random, or when no evolved reward trained")
BEATS_RULE = "evolved beats reference when evolved mean − evolved std > reference mean + reference std (std over seeds)"
ORIGIN_LABELS = {"mutation": "LLM-free mutations", "init": "the --init reward"}


# ---------------------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Stat:
    """Mean ± (population) std of one number over seeds, and the per-seed values it comes from."""

    mean: float
    std: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        array = np.asarray(finite, dtype=np.float64)
        return cls(float(array.mean()), float(array.std()), tuple(finite))


@dataclass(frozen=True)
class NormalisedScore:
    value: float | None  # None: undefined, and `reason` says why
    reason: str | None


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
class TaskResult:
    env: str
    task: str
    fitness_version: int
    train_steps: int  # per training, evolve and retrains alike
    seeds: tuple[int, ...]  # the fresh seeds of both retrains
    run_dir: str
    best_id: str | None
    best_model: str | None
    best_is_reference: bool  # the evolve kept the reference's own program (its retrain is then the reference's)
    evolve_fitness: float | None  # the winner's task score during the evolve (one seed)
    evolved: MultiSeedSummary | None  # None: no evolved reward trained
    reference: MultiSeedSummary
    random_fitness: Stat
    normalised: NormalisedScore
    beats_reference: bool
    models: tuple[ModelStats, ...]
    wall_s: dict[str, float]  # evolve, retrain, random, total
    llm_cost_usd: float

    def fitness(self, which: str) -> Stat | None:
        summary = self.evolved if which == "evolved" else self.reference
        return summary_stat(summary, "fitness") if summary else None

    def success(self, which: str) -> Stat | None:
        summary = self.evolved if which == "evolved" else self.reference
        return summary_stat(summary, "success_rate") if summary else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env, "task": self.task, "fitness_version": self.fitness_version,
            "train_steps": self.train_steps, "seeds": list(self.seeds), "run_dir": self.run_dir,
            "best_id": self.best_id, "best_model": self.best_model, "best_is_reference": self.best_is_reference,
            "evolve_fitness": self.evolve_fitness,
            "evolved": self.evolved.to_dict() if self.evolved else None,
            "reference": self.reference.to_dict(),
            "random_fitness": dataclasses.asdict(self.random_fitness),
            "normalised_score": self.normalised.value, "normalised_undefined_reason": self.normalised.reason,
            "beats_reference": self.beats_reference,
            "models": [dataclasses.asdict(m) for m in self.models],
            "wall_s": self.wall_s, "llm_cost_usd": self.llm_cost_usd,
        }


# ----------------------------------------------------------------------------------------------- the pure rules


class RandomPolicy:
    """Uniform random actions in [-1, 1] from a seeded generator: the floor of the normalised score."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, action_dim: int) -> np.ndarray:
        batch = obs.shape[:-1]
        return self.rng.uniform(-1.0, 1.0, (*batch, action_dim))


def within_noise(reference: Stat, random: Stat) -> bool:
    return abs(reference.mean - random.mean) <= max(reference.std, random.std, EPSILON)


def normalised_score(evolved: Stat | None, reference: Stat | None, random: Stat) -> NormalisedScore:
    """Eureka's human-normalised score, or None with the reason it is undefined (NOISE_RULE)."""
    if reference is None:
        return NormalisedScore(None, "the reference reward failed to train on every seed")
    if within_noise(reference, random):
        return NormalisedScore(None, f"reference {reference.mean:.4g} is within noise of random {random.mean:.4g} "
                                     f"(noise {max(reference.std, random.std, EPSILON):.3g}) at this budget")
    if reference.mean < random.mean:
        return NormalisedScore(None, f"reference {reference.mean:.4g} is below random {random.mean:.4g}")
    if evolved is None:
        return NormalisedScore(None, "no evolved reward trained")
    return NormalisedScore((evolved.mean - random.mean) / (reference.mean - random.mean), None)


def beats_reference(evolved: Stat | None, reference: Stat | None) -> bool:
    """BEATS_RULE: higher fitness is better on every task."""
    if evolved is None or reference is None:
        return False
    return evolved.mean - evolved.std > reference.mean + reference.std


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


# ------------------------------------------------------------------------------------------------ the measuring


def random_policy_fitness(env: EnvSpec, task: Task, reference_source: str, episodes: int,
                          seeds: Sequence[int]) -> Stat:
    """The random policy's fitness (mean over `episodes` episodes) on each seed's evaluation episodes (seed s on
    EVAL_SEED + s, as train_seeds evaluates the trained ones)."""
    reward = load_reward(reference_source)  # the reference is trusted code; it only adds the return and term stats
    per_seed = []
    for seed in seeds:
        # rollouts.evaluate is annotated with the trained Policy; it only calls .act(obs, action_dim)
        evaluation, _ = evaluate(env, task, reward, RandomPolicy(seed), episodes, EVAL_SEED + seed, trace=False)
        per_seed.append(evaluation.fitness_mean)
    stat = Stat.of([v for v in per_seed if v is not None])
    if stat is None:
        raise ValueError(f"the random policy's fitness on {env.name}/{task.name} is not finite")
    return stat


def parse_task(spec: str) -> tuple[str, str, int | None]:
    """'env/task' or 'env/task:steps' -> (env, task, steps or None); ValueError (one line) on anything else."""
    name, colon, steps = spec.strip().partition(":")
    env_name, slash, task_name = name.partition("/")
    if not slash or not env_name or not task_name or "/" in task_name or (colon and not steps.isdigit()):
        raise UserError(f"--tasks wants env/task or env/task:steps, e.g. cartpole/balance,hopper/hop:300000; "
                         f"got {spec!r}")
    if colon and int(steps) < 1:
        raise UserError(f"the steps of {spec!r} must be a positive integer")
    return env_name, task_name, int(steps) if colon else None


def check_task(env_name: str, task_name: str) -> tuple[EnvSpec, Task]:
    """A registered task with a fitness and a reference reward; ValueError (one line) otherwise."""
    env = get_env(env_name)
    task = env.task(task_name)
    if not task.has_fitness:
        raise UserError(f"{env_name}/{task_name} has no fitness metric, so it cannot be benchmarked")
    if not env.reference_reward_path(task.name).is_file():
        raise UserError(f"{env_name}/{task_name} has no reference reward (envs/{env_name}/rewards/{task_name}.py)")
    return env, task


def run_task(cfg: RunConfig, seeds: int, out: Path, report: Report = lambda event: None) -> TaskResult:
    """Evolve one task, retrain the winner and the reference on `seeds` fresh seeds, measure the random policy."""
    env, task = prepare(cfg)
    start = time.perf_counter()
    store = RunStore.create(out / "runs", new_run_id(cfg.env, cfg.task), cfg)
    result = evolve(store, cfg, report)
    evolved_at = time.perf_counter()

    train_cfg: TrainConfig = RunContext(store, cfg, env, task, report).training_config()
    fresh = [cfg.seed + 1 + i for i in range(seeds)]  # the evolve trained on cfg.seed; the same seeds for both
    retrain_dir = out / "retrain" / store.root.name
    reference_source = env.reference_reward_path(task.name).read_text()
    report(Retraining("reference", tuple(fresh)))
    reference = train_seeds(env, task.name, reference_source, train_cfg, fresh, retrain_dir / "reference", report,
                            cfg.trainer)
    best = result.best
    best_is_reference = best is not None and (best.source or "").strip() == reference_source.strip()
    evolved: MultiSeedSummary | None = None
    if best is not None and best.source is not None:
        if best_is_reference:  # the same program on the same seeds: its retrain is the reference's
            evolved = reference
        else:
            report(Retraining(f"evolved {best.id}", tuple(fresh)))
            evolved = train_seeds(env, task.name, best.source, train_cfg, fresh, retrain_dir / "evolved", report,
                                  cfg.trainer)
    retrained_at = time.perf_counter()

    random = random_policy_fitness(env, task, reference_source, train_cfg.eval_episodes, fresh)
    done = time.perf_counter()
    evolved_fitness = summary_stat(evolved, "fitness") if evolved else None
    reference_fitness = summary_stat(reference, "fitness")
    candidates = [c for gen in store.generations() for c in store.candidates(gen)]
    return TaskResult(
        env=env.name, task=task.name, fitness_version=task.fitness_version, train_steps=train_cfg.steps,
        seeds=tuple(fresh), run_dir=str(store.root), best_id=best.id if best else None,
        best_model=best.model if best else None, best_is_reference=best_is_reference,
        evolve_fitness=best.fitness if best else None, evolved=evolved, reference=reference, random_fitness=random,
        normalised=normalised_score(evolved_fitness, reference_fitness, random),
        beats_reference=beats_reference(evolved_fitness, reference_fitness), models=model_stats(candidates),
        wall_s={"evolve": evolved_at - start, "retrain": retrained_at - evolved_at, "random": done - retrained_at,
                "total": done - start},
        llm_cost_usd=float(sum(row.cost_usd for row in generation_rows(store))),
    )


def run_benchmark(base: RunConfig, tasks: Sequence[str], seeds: int, out: Path,
                  report: Report = lambda event: None,
                  on_task: Callable[[TaskResult], None] = lambda result: None) -> list[TaskResult]:
    """Every task in turn (all checked up front, before anything runs); the report is rewritten after each task.
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
        write_report(results, base, out)
        on_task(results[-1])
    return results


# ------------------------------------------------------------------------------------------------------ reporting


def beats_fraction(results: Sequence[TaskResult]) -> tuple[int, int]:
    return sum(r.beats_reference for r in results), len(results)


def _ms(stat: Stat | None, digits: int = 3) -> str:
    return "—" if stat is None else f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def _pct(stat: Stat | None) -> str:
    return "—" if stat is None else f"{100 * stat.mean:.0f}% ± {100 * stat.std:.0f}%"


def _models(base: RunConfig) -> str:
    return ", ".join(base.models) if base.models else "LLM-free (the reference reward's scales mutated)"


def markdown(results: Sequence[TaskResult], base: RunConfig) -> str:
    wins, total = beats_fraction(results)
    lines = [
        "# Quality benchmark",
        "",
        f"Model(s): {_models(base)}. Evolve: {base.iterations} generation(s) × {base.samples} sample(s), metrics "
        f"feedback, trainer {base.trainer}. Fitness is the task's hidden score per episode (mean over evaluation "
        "episodes), given as mean ± std over the retrain seeds; success is the share of evaluation episodes at or "
        "above the task's success threshold.",
        "",
        "| task | steps × seeds | evolved fitness | evolved success | reference fitness | reference success "
        "| random fitness | normalised score | beats reference | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        evolved = _ms(r.fitness("evolved")) + (" (= reference)" if r.best_is_reference else "")
        score = f"{r.normalised.value:.3f}" if r.normalised.value is not None else f"undefined: {r.normalised.reason}"
        lines.append(f"| {r.env}/{r.task} v{r.fitness_version} | {r.train_steps:,} × {len(r.seeds)} | {evolved} "
                     f"| {_pct(r.success('evolved'))} | {_ms(r.fitness('reference'))} "
                     f"| {_pct(r.success('reference'))} | {_ms(r.random_fitness)} | {score} "
                     f"| {'yes' if r.beats_reference else 'no'} | {r.wall_s['total']:.0f} s |")
    lines += ["", f"Evolved beats reference beyond the seed spread on {wins}/{total} task(s).", "",
              f"Rules: {BEATS_RULE}; {NOISE_RULE}.", "",
              "## Per model", "",
              "Task scores of the evolve itself (each candidate trained once, on the run's seed).", "",
              "| task | model | programs | passed check | evaluated | mean task score | best |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for m in r.models:
            mean = "—" if m.mean_fitness is None else f"{m.mean_fitness:.3f}"
            best = "—" if m.best_fitness is None else f"{m.best_fitness:.3f} ({m.best_id})"
            lines.append(f"| {r.env}/{r.task} | {m.model} | {m.candidates} | {m.passed_check} | {m.evaluated} "
                         f"| {mean} | {best} |")
    lines += ["", "## Cost", "",
              "| task | evolve | retrain | random policy | total | LLM $ | winner |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        w = r.wall_s
        lines.append(f"| {r.env}/{r.task} | {w['evolve']:.0f} s | {w['retrain']:.0f} s | {w['random']:.1f} s "
                     f"| {w['total']:.0f} s | {r.llm_cost_usd:.4f} | {r.best_id or '—'} ({r.best_model or 'no LLM'}) |")
    return "\n".join(lines) + "\n"


def report_dict(results: Sequence[TaskResult], base: RunConfig) -> dict[str, Any]:
    wins, total = beats_fraction(results)
    config = {k: v for k, v in dataclasses.asdict(base).items() if k not in ("env", "task")}
    return {"config": config, "rules": {"beats": BEATS_RULE, "noise": NOISE_RULE,
                                                          "epsilon": EPSILON},
            "beats_reference": {"tasks": wins, "of": total, "fraction": wins / total if total else None},
            "tasks": [r.to_dict() for r in results]}


def write_report(results: Sequence[TaskResult], base: RunConfig, out: Path) -> tuple[Path, Path]:
    json_path, md_path = out / "quality.json", out / "quality.md"
    write_json(json_path, report_dict(results, base))
    write_text(md_path, markdown(results, base))
    return json_path, md_path
