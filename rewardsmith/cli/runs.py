"""`rewardsmith runs` (the runs in a folder: task, state, generations, best score, cost) and `rewardsmith fork RUN
--model M` (a new run that continues RUN's ranked generations with another model; runs/fork.py copies them, then
the fork evolves as `evolve --resume` does, through the evolve command itself)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import typer
from rich.table import Table

from rewardsmith.cli.ui import console, fail, num
from rewardsmith.runs.listing import RUNNING, STOPPED, RunRow, list_runs
from rewardsmith.runs.store import RunStore

TASK_WIDTH = 40  # a free-text task can be thousands of characters: the list shows its start


def runs_command(out: Path = typer.Option(Path("runs"), help="the folder that holds runs (evolve's --out)")) -> None:
    """List the runs in a folder: env and task, state, generations, best candidate and task score, cost, start."""
    if not out.is_dir():
        fail(f"--out {out} is {'a file' if out.exists() else 'not there'}; give the folder evolve wrote the runs to "
             "(default: runs)")
    rows, skipped = list_runs(out)
    if rows:
        console.print(runs_table(out, rows))
    else:
        console.print(f"no runs in {out}", soft_wrap=True, markup=False)
    for skip in skipped:
        console.print(f"skipped {skip.path}: {skip.why}", soft_wrap=True, markup=False)
    if any(row.state == STOPPED for row in rows):
        console.print("a stopped run continues with: rewardsmith evolve --resume RUN (or another model: rewardsmith "
                      "fork RUN --model M)", soft_wrap=True, markup=False)


def runs_table(out: Path, rows: list[RunRow]) -> Table:
    table = Table(title=f"runs in {out}")
    for column in ("run", "env/task", "model", "state", "generations", "best", "task score", "confidence",
                   "cost $", "started"):
        table.add_column(column, overflow="fold")
    for row in rows:
        task = row.task if len(row.task) <= TASK_WIDTH else row.task[:TASK_WIDTH - 1] + "…"
        state = f"{RUNNING} (pid {row.pid})" if row.state == RUNNING else row.state
        table.add_row(row.path.name, f"{row.env}/{task}", ", ".join(row.models) or "LLM-free", state,
                      f"{row.generations}/{row.of}", row.best or "—", num(row.fitness), row.confidence or "—",
                      f"{row.cost_usd:.4f}", row.started or "—")
    return table


def fork_command(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="the run to continue (it stays as it is)"),
    model: list[str] | None = typer.Option(None, help="the litellm model that goes on, e.g. openai/gpt-4o; repeat it "
                                           "to split each round's samples across models"),
    api_base: list[str] | None = typer.Option(None, help="base URL of an OpenAI-compatible server for it"),
    generations: int | None = typer.Option(None, help="generations to evolve after the copied ones [default: RUN's "
                                           "--iterations]"),
    max_cost: float | None = typer.Option(None, help="USD the fork may spend on the LLM, the copied generations' "
                                          "spend included [default: RUN's cap]"),
    out: Path = typer.Option(Path("runs"), help="the folder the fork is made in"),
) -> None:
    """Continue a run's history with another model: a new run that copies RUN's ranked generations (RUN is left as
    it is), records where it came from (fork.json), and evolves more generations; --resume continues it."""
    from rewardsmith.context import open_run
    from rewardsmith.evolve import prepare
    from rewardsmith.runs.fork import fork_run, ranked_generations
    from rewardsmith.runs.lock import RunInUse, lock_holder

    if not model:  # an LLM-free fork would be the run itself, resumed
        fail("fork continues a run with an LLM: give --model M (and --api-base URL for a local server); to go on "
             f"as the run is, rewardsmith evolve --resume {run}")
    if not run.exists():
        fail(f"{run} does not exist; `rewardsmith runs` lists the runs of a folder")
    source = open_run(run)  # not a run, damaged or of a newer schema: one line
    if (pid := lock_holder(source.root)) is not None:
        _running(run, pid)
    ranked = ranked_generations(source)
    if not ranked:
        fail(f"{run} has no ranked generation to continue from; start a new run instead: rewardsmith evolve "
             f"--env ENV --task TASK --model {model[0]}")
    if generations is not None and generations < 1:
        fail(f"--generations must be a positive integer (generations after the copied ones), got {generations}")
    before = source.config()
    more = generations or before.iterations
    cfg = dataclasses.replace(before, models=tuple(model), api_bases=tuple(api_base or ()),
                              iterations=len(ranked) + more,
                              max_cost=before.max_cost if max_cost is None else max_cost)
    prepare(cfg)  # the new model and its settings are checked before anything is written
    try:
        store = fork_run(source, out, cfg, ranked)
    except RunInUse as err:  # an evolve took the run since the check above
        _running(run, err.pid)
    console.print(f"fork: {store.root} continues {source.root} with {', '.join(cfg.models)}: "
                  f"{_copied(len(ranked), before.models)}, {more} more to evolve", soft_wrap=True, markup=False)
    # then exactly `rewardsmith evolve --resume FORK`: its lock, progress, stops, exit codes and closing lines
    group = ctx.parent
    assert group is not None, "fork is a command of the rewardsmith group"
    evolve = group.command.get_command(group, "evolve")  # type: ignore[attr-defined]
    with evolve.make_context("evolve", ["--resume", str(store.root)], parent=group) as resumed:
        evolve.invoke(resumed)


def print_fork(store: RunStore) -> None:
    """`show`'s line on where a fork came from (nothing for a run that is no fork)."""
    fork = store.load_fork()
    if fork is not None:
        console.print(f"forked from {fork['from']}: {_copied(int(fork['generations']), fork['models'])}",
                      soft_wrap=True, markup=False)


def _copied(generations: int, models: Sequence[str]) -> str:
    ids = "generation 0" if generations == 1 else f"generations 0-{generations - 1}"
    return f"{ids} copied (by {', '.join(models) or 'LLM-free mutations'})"


def _running(run: Path, pid: int | None) -> NoReturn:
    fail(f"{run} is running (pid {pid or 'unknown'}): fork a run no evolve is working on; wait for it to finish or "
         "stop it, then fork")
