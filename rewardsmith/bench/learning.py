"""Learning with the PPO update run in turn vs overlapped with the next rollout (TrainConfig.overlap_update; the
overlap acts one update behind, rewardsmith/train/native.py): the task's reference reward trained with the native
trainer and stop-at-success semantics (a deterministic evaluation at each checkpoint, stop at cfg.stop_success_rate)
over N seeds, both variants on each seed in turn, so that a drifting machine load hits both alike.

Per training: env steps to success (or "not reached within B"), wall time (including the checkpoints' evaluations),
and the curve, one `steps: success/score` pair per checkpoint (the evaluation's success rate and task score). Then
per variant the median steps to success (a training that did not reach it counts as above the budget) and the
median wall time.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from rewardsmith.bench.throughput import compile_native_update
from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.errors import UserError
from rewardsmith.program.load import load_reward
from rewardsmith.records import CurvePoint
from rewardsmith.train.native import EVAL_FITNESS, EVAL_SUCCESS, train_native
from rewardsmith.train.policy import TrainingStopped

VARIANTS = (("in turn", False), ("overlapped", True))


@dataclass(frozen=True)
class Trained:
    variant: str
    seed: int
    steps: int  # env steps trained (to the stop, or the budget)
    reached: bool
    wall_s: float
    curve: tuple[CurvePoint, ...]
    stopped: str | None = None  # why the training stopped early without success (TrainingStopped)


def _millions(steps: int) -> str:
    return f"{steps / 1e6:.2f}M" if steps >= 100_000 else f"{steps:,}"


def _pair(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def describe(run: Trained, budget: int) -> str:
    """One line: the outcome, the wall time and the compact curve."""
    if run.reached:
        outcome = f"success at {run.steps:,} steps"
    else:
        outcome = f"not reached within {budget:,}" + (f" (stopped: {run.stopped})" if run.stopped else "")
    curve = "  ".join(f"{_millions(p.step)}: {_pair(p.extra.get(EVAL_SUCCESS))}/{_pair(p.extra.get(EVAL_FITNESS))}"
                      for p in run.curve)
    return f"  seed {run.seed} {run.variant:10s} {outcome:38s} wall {run.wall_s:7.1f} s   curve {curve}"


def summary(runs: list[Trained], budget: int) -> list[str]:
    """Per variant: the median steps to success (not reached = above the budget) and the median wall time."""
    lines = []
    for name, _ in VARIANTS:
        mine = [r for r in runs if r.variant == name]
        if not mine:
            continue
        to_success = [r.steps if r.reached else float("inf") for r in mine]
        median = statistics.median(to_success)
        shown = f"> {budget:,} (not reached)" if median == float("inf") else f"{median:,.0f}"
        reached = sum(r.reached for r in mine)
        lines.append(f"  {name:10s} median steps to success {shown:>24s}   reached {reached}/{len(mine)}   "
                     f"median wall {statistics.median(r.wall_s for r in mine):7.1f} s")
    return lines


def learning(env_name: str, task_name: str, seeds: int, first_seed: int, steps: int | None, checkpoints: int,
             time_budget_s: float | None, print_line=lambda line: print(line, flush=True)) -> list[Trained]:
    """Trains both variants on seeds first_seed .. first_seed + seeds - 1 and prints the lines the note quotes."""
    env = get_env(env_name)
    task = env.task(task_name)
    if task.fitness is None or task.success_threshold is None:
        raise UserError(f"{env_name}/{task_name} has no success threshold: there is no step of success to compare")
    reward = load_reward(env.reference_reward_path(task.name).read_text())
    if seeds < 1:
        raise UserError("--seeds must be at least 1")
    budget = train_config_for(env.ppo, steps=steps or task.train_steps).whole_batch_steps
    print_line(f"{env_name}/{task_name}: reference reward, native trainer, budget {budget:,} env steps, "
               f"{checkpoints} checkpoints, stop at success rate {train_config_for(env.ppo).stop_success_rate}; "
               f"curve: steps: eval success/eval task score")
    compile_s = compile_native_update(env, task)  # so that the first training's wall time has no compile in it
    print_line(f"  (the update compiled first, in a one-iteration training: {compile_s:.1f} s, not counted)")
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        for name, overlap in VARIANTS:
            cfg = train_config_for(env.ppo, steps=budget, seed=seed, checkpoints=checkpoints, stop_at_success=True,
                                   overlap_update=overlap, time_budget_s=time_budget_s or 4 * 3600.0)
            curve: list[CurvePoint] = []  # what a training stopped without success got to

            def record(step: int, point: CurvePoint, curve: list[CurvePoint] = curve) -> None:
                curve.append(point)

            start = time.monotonic()
            try:
                outcome = train_native(env, task, reward, cfg, record)
                run = Trained(name, seed, outcome.steps, outcome.reached_success, time.monotonic() - start,
                              tuple(outcome.curve))
            except TrainingStopped as stop:
                trained = curve[-1].step if curve else 0
                run = Trained(name, seed, trained, False, time.monotonic() - start, tuple(curve), str(stop))
            runs.append(run)
            print_line(describe(run, budget))
    for line in summary(runs, budget):
        print_line(line)
    return runs
