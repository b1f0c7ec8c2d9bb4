"""`rewardsmith ablate RUN`: which terms of the run's reward matter (execute/ablate.py trains and judges; this prints
the table)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from rewardsmith.cli.memory import refresh_after_ablate
from rewardsmith.cli.progress import ProgressView
from rewardsmith.cli.ui import console, errors, fail
from rewardsmith.errors import INTERRUPTED

if TYPE_CHECKING:
    from rewardsmith.execute.ablate import Ablation, Interval

DEFAULT_SEEDS = 3


def ablate_command(
    run: Path = typer.Argument(..., help="a finished run directory"),
    candidate: str | None = typer.Option(None, help="candidate id, e.g. g1c02 [default: the run's answer, the one "
                                         "`export` writes]"),
    seeds: int = typer.Option(DEFAULT_SEEDS, help="training seeds per variant; every variant, the full reward and the "
                              "pruned one train on the same seeds (the run's seed + 1, + 2, ...)"),
    scales: bool = typer.Option(False, "--scales", help="also halve and double each term's scale (three times the "
                                "trainings)"),
    steps: int | None = typer.Option(None, help="env steps per training [default: the run's budget]"),
) -> None:
    """Retrain the reward with each term removed (and each scale halved and doubled with --scales) on several seeds;
    print each variant's task score, its effect against the full reward and a verdict per term; write the table
    and, where the terms that do not matter can go, a pruned reward (RUN/ablation/ID/)."""
    from rewardsmith.context import RunContext, open_run
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.execute.ablate import AblationSetup, run_ablation
    from rewardsmith.exports.reward import chosen_candidate
    from rewardsmith.program.prune import variants
    from rewardsmith.runs.lock import run_lock

    if seeds < 1 or (steps is not None and steps < 1):
        fail("--seeds and --steps must be positive integers (2 or more seeds give a seed-to-seed spread)")
    store = open_run(run)
    cfg = store.config()
    env = get_env(cfg.env)
    task = resolve_task(env, cfg.task)
    if not task.has_fitness:
        fail(f"the run's task {cfg.task!r} has no task score to compare variants by; ablate needs a named task "
             "(see `rewardsmith envs`)")
    cand = chosen_candidate(store, candidate)
    train = RunContext(store, cfg, env, task, lambda event: None).training_config()
    train = dataclasses.replace(train, steps=steps or train.steps)
    setup = AblationSetup(store, env, task, cand, train, tuple(cfg.seed + 1 + i for i in range(seeds)), cfg.trainer,
                          scales)
    count = len(variants(cand.source or "", scales))
    console.print(f"ablating {cand.id} of {store.root} ({cfg.env}/{task.name}): {count} rewards (the full one "
                  f"first) x {seeds} seed(s) at {train.steps:,} steps each, trainer {cfg.trainer}, then the pruned "
                  "reward on the same seeds", soft_wrap=True, markup=False)
    try:
        with run_lock(store), ProgressView(seeds=(count + 1) * seeds) as view:
            ablation = run_ablation(setup, view, lambda text: console.print(text, soft_wrap=True, markup=False))
    except KeyboardInterrupt:
        errors.print("interrupted; nothing was written (RUN/ablation/ is as it was)", soft_wrap=True, markup=False)
        raise typer.Exit(INTERRUPTED) from None
    except RuntimeError as err:  # the full reward itself did not train: no baseline
        fail(str(err), code=1)
    print_ablation(ablation)
    console.print(f"wrote {store.ablation_path(cand.id)}", soft_wrap=True, markup=False)
    if ablation.kept is not None:
        console.print(f"wrote {store.pruned_reward_path(cand.id)}; export it with: rewardsmith export {store.root} "
                      f"--candidate {cand.id} --pruned -o reward.py", soft_wrap=True, markup=False)
    refresh_after_ablate(store, cand.id)  # --memory: the answer's entry gets the measured effects


def _interval(value: Interval | None) -> str:
    return "—" if value is None else f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}]"


def _effect(value: Interval | None) -> str:
    return "—" if value is None else f"{value.value:+.3f} [{value.low:+.3f}, {value.high:+.3f}]"


def print_ablation(ablation: Ablation) -> None:
    """The table as ablate prints it, the rule under it, and what became of the pruned reward."""
    table = Table(title=f"ablation of {ablation.candidate} ({ablation.env}/{ablation.task}, {ablation.steps:,} steps, "
                        f"seeds {', '.join(map(str, ablation.seeds))})")
    for column in ("reward", "seeds", "task score [95%]", "success [95%]", "effect vs full [95%]", "verdict"):
        table.add_column(column, overflow="fold")
    trained = [p for p in ablation.pruned if p.row is not None]
    for row in [*ablation.rows, *(p.row for p in trained if p.row is not None)]:
        tried = next((p for p in trained if p.row is row), None)
        name = f"pruned (-{', -'.join(tried.dropped)})" if tried is not None else row.name
        table.add_row(name, str(row.seeds_ok), _interval(row.score), _interval(row.success), _effect(row.effect),
                      row.words)
    console.print(table)
    console.print(f"{ablation.trainings} trainings in {ablation.wall_s:.0f} s", soft_wrap=True, markup=False)
    console.print(f"rule: {ablation.rule}", soft_wrap=True, markup=False)
    if not ablation.pruned:
        console.print("pruned reward: none; every term's removal hurts", soft_wrap=True, markup=False)
        return
    for tried in ablation.pruned:
        console.print(f"pruned reward without {', '.join(tried.dropped)}: {tried.reason}", soft_wrap=True,
                      markup=False)
    console.print(f"rule: {ablation.as_well_rule}", soft_wrap=True, markup=False)
