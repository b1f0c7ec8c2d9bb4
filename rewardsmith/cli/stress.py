"""`rewardsmith stress RUN [--candidate ID]`: a trained policy under perturbations (evaluate/stress.py runs them):
the task score and success rate under each, the unperturbed baseline on the same episodes, and the worst case; the
reports go to the candidate's stress.json."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from rewardsmith.cli.ui import console, fail
from rewardsmith.evaluate.stress import (
    EPISODES,
    NOISE_STD,
    PUSH_SPEED,
    PUSHES_PER_EPISODE,
    SCALE,
    STRESS_SEED,
    StressReport,
    conditions,
    stress,
    write_reports,
)


def stress_command(
    run: Path = typer.Argument(..., help="run directory"),
    candidate: str | None = typer.Option(None, help="candidate id, e.g. g1c02 (default: the run's answer, as "
                                         "export takes it)"),
    episodes: int = typer.Option(EPISODES, help="episodes per condition (the same start states under each)"),
    seed: int = typer.Option(STRESS_SEED, help="the episodes' seed (their start states, the pushes and the noise)"),
    scale: float = typer.Option(SCALE, help="masses, friction and actuator strength are scaled by 1 - and 1 + this "
                                "(0: leave those conditions out)"),
    push: float = typer.Option(PUSH_SPEED, help=f"the push, {PUSHES_PER_EPISODE} per episode: an impulse on the "
                               "root body along x of this many m/s times the robot's mass (0: no push condition)"),
    noise: float = typer.Option(NOISE_STD, help="observation noise in standard deviations of the policy's "
                                "observation normaliser (0: no noise condition)"),
    mjx: bool = typer.Option(False, "--mjx", help="also run the episodes on MJX's physics (compiles ~100 s on 2 "
                             "CPU cores)"),
) -> None:
    """A trained policy under perturbations: task score and success rate under each, the baseline, the worst case."""
    from rewardsmith.context import open_run
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.exports.reward import chosen_candidate
    from rewardsmith.train.policy import Policy

    _check(episodes, seed, scale, push, noise)
    store = open_run(run)
    cand = chosen_candidate(store, candidate)
    policy = store.policy_paths(cand)[0]
    if not policy.is_file():
        why = f": {cand.reason}" if cand.reason else ""
        fail(f"candidate {cand.id} has no trained policy ({cand.status.value}{why}); stress an evaluated candidate "
             f"(see `rewardsmith show {store.root}`)")
    config = store.config()
    env = get_env(config.env)
    task = resolve_task(env, config.task)
    if task.fitness is None:
        fail(f"task {config.task!r} has no task score to stress; stress a run of a named task (see `rewardsmith envs`)")
    report = stress(env, task, Policy.load(policy), cand.id, conditions(scale, push, noise, mjx), episodes, seed)
    path = store.stress_path(cand.generation, cand.index)
    write_reports(path, [report])
    console.print(_table(report, env.name, task.name))
    worst, base = report.worst, report.baseline
    console.print(f"worst case: {worst.condition.name}, task score {_num(worst.score)} (baseline {_num(base.score)} "
                  f"on the same {episodes} episodes)\nwrote {path}", soft_wrap=True, markup=False)


def _check(episodes: int, seed: int, scale: float, push: float, noise: float) -> None:
    if episodes < 1:
        fail(f"--episodes must be a positive integer, got {episodes}")
    if not 0 <= seed < 2**32:  # what numpy's generators take
        fail(f"--seed must be an integer from 0 to {2**32 - 1}, got {seed}")
    if not 0 <= scale < 1:  # NaN fails too
        fail(f"--scale must be at least 0 and below 1 (a factor of 1 - scale must stay positive), got {scale}")
    for flag, value in (("--push", push), ("--noise", noise)):
        if not 0 <= value < float("inf"):
            fail(f"{flag} must be a finite number, 0 or more (0 leaves the condition out), got {value}")


def _table(report: StressReport, env: str, task: str) -> Table:
    table = Table(title=f"{report.candidate} under stress ({env} {task}; {report.episodes} episodes per condition, "
                        f"seed {report.seed})")
    for column in ("condition", "task score [95%]", "vs baseline", "success [95%]", "ended early"):
        table.add_column(column, overflow="fold")
    for row in report.rows():
        table.add_row(row["condition"], row["score"], row["change"], row["success"], row["ended early"])
    return table


def _num(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.3f}"
