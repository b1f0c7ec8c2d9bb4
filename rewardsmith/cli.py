"""The `rewardsmith` command: thin typer commands over library functions; all terminal output lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from rewardsmith.config import FEEDBACK_MODES, RunConfig

# No locals in tracebacks: they could hold API keys.
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

BAD_INPUT = 2


def fail(message: str, code: int = BAD_INPUT) -> None:
    """One clear line on stderr and a non-zero exit: the only way commands report bad input."""
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def resolve_model(model: str | None, api_base: str | None, llm_free: bool) -> str | None:
    """The litellm model string to use, or None for the LLM-free mode."""
    if llm_free:
        if model or api_base:
            fail("--llm-free cannot be combined with --model or --api-base; choose one")
        return None
    model = model or os.environ.get("REWARDSMITH_MODEL")
    if model:
        return model
    if api_base:
        return "openai/default"  # a local OpenAI-compatible server usually serves whatever model it has loaded
    if os.environ.get("OPENAI_API_KEY"):
        return "openai/gpt-4o-mini"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic/claude-3-5-haiku-latest"
    fail("no LLM configured: pass --model MODEL (with its API key in the environment), --api-base URL for a local "
         "OpenAI-compatible server, or --llm-free to evolve the reference reward's scales without an LLM")


@app.command()
def envs() -> None:
    """List the environments and their tasks."""
    from rewardsmith.envs import env_names, get_env

    table = Table(title="environments")
    for column in ("env", "task", "episode steps", "budget (steps)", "description"):
        table.add_column(column)
    for name in env_names():
        env = get_env(name)
        for task in env.tasks:
            table.add_row(name, task.name, str(task.episode_steps), f"{task.train_steps:,}", task.description)
    console.print(table)


def _print_event(event: dict) -> None:
    kind = event["event"]
    if kind == "generation":
        console.print(f"[bold]generation {event['gen'] + 1}/{event['of']}[/]")
    elif kind == "llm":
        console.print(f"  asking the LLM for {event['n']} program(s) (round {event['round'] + 1})")
    elif kind == "candidate":
        reason = f": {event['reason']}" if event.get("reason") else ""
        console.print(f"  {event['id']} {event['status']}{reason}", soft_wrap=True)
    elif kind == "train":
        fitness = event.get("fitness")
        fitness_text = f"  task score {fitness:.3f}" if fitness is not None else ""
        console.print(f"    {event['id']} {event['step']:>9,}/{event['total']:,} steps  "
                      f"return {event['episode_return']:.1f}  length {event['episode_length']:.0f}{fitness_text}")
    elif kind == "selection":
        best = event["best"] or "none"
        console.print(f"  selected {best}; best so far {event['best_overall'] or 'none'} "
                      f"(task score {_num(event['best_overall_fitness'])})")


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


@app.command()
def evolve(
    env: str = typer.Option(None, help="environment name (see `rewardsmith envs`)"),
    task: str = typer.Option(None, help="a task name of the env, or a description of a new task"),
    model: Optional[str] = typer.Option(None, help="litellm model string, e.g. openai/gpt-4o-mini [env: REWARDSMITH_MODEL]"),
    api_base: Optional[str] = typer.Option(None, help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"),
    llm_free: bool = typer.Option(False, "--llm-free", help="no LLM: evolve the SCALES of the task's reference reward"),
    iterations: int = typer.Option(RunConfig.iterations, help="generations"),
    samples: int = typer.Option(RunConfig.samples, help="reward programs per generation (K)"),
    train_steps: Optional[int] = typer.Option(None, help="env steps per training [default: the task's budget]"),
    seed: int = typer.Option(RunConfig.seed),
    feedback: str = typer.Option(RunConfig.feedback, help=f"how a generation is ranked: {', '.join(FEEDBACK_MODES)}"),
    temperature: float = typer.Option(RunConfig.temperature, help="LLM sampling temperature"),
    out: Path = typer.Option(Path("runs"), help="directory that holds runs"),
    resume: Optional[Path] = typer.Option(None, help="continue an interrupted run (its directory)"),
) -> None:
    """Evolve reward programs for a task: sample, check, train, evaluate, reflect, repeat."""
    from rewardsmith.envs import UnknownNameError, get_env, resolve_task
    from rewardsmith.store import RunStore, StoreError, new_run_id

    try:
        if resume is not None:
            store = RunStore.open(resume)
            cfg = RunConfig(**store.config())
        else:
            if not env or task is None:
                fail("--env and --task are required (or --resume RUN); see `rewardsmith envs` for the choices")
            cfg = RunConfig(env=env, task=task, iterations=iterations, samples=samples,
                            model=resolve_model(model, api_base, llm_free), api_base=api_base,
                            temperature=temperature, feedback=feedback, train_steps=train_steps, seed=seed)
            cfg.validate()
            resolve_task(get_env(cfg.env), cfg.task)  # bad names fail here, before anything is written
            store = RunStore.create(out, new_run_id(cfg.env, cfg.task), cfg.__dict__)
        console.print(f"run: {store.root}  ({'LLM-free' if cfg.llm_free else cfg.model})")
        from rewardsmith.evolve import evolve as run_evolve  # imported after validation: bad input fails fast

        result = run_evolve(store, cfg, _print_event)
    except (UnknownNameError, StoreError, ValueError) as err:
        fail(str(err))
    _print_summary(store)
    console.print(f"best: {result['best'] or 'none'}  task score {_num(result['fitness'])}  "
                  f"export with: rewardsmith export {store.root} -o reward.py")


def _print_summary(store) -> None:
    from rewardsmith.show import generation_rows

    table = Table(title=f"run {store.root.name}")
    for column in ("gen", "candidates", "evaluated", "failed", "best", "best score", "LLM cost $"):
        table.add_column(column)
    for row in generation_rows(store):
        table.add_row(str(row["gen"]), str(row["candidates"]), str(row["evaluated"]), str(row["failed"]),
                      row["best"] or "—", _num(row["best_fitness"]), f"{row['cost_usd']:.4f}")
    console.print(table)


@app.command()
def show(run: Path = typer.Argument(..., help="run directory")) -> None:
    """Generations, candidates, status, fitness, failure reasons and cost of a run."""
    from rewardsmith.show import candidate_rows
    from rewardsmith.store import RunStore, StoreError

    try:
        store = RunStore.open(run)
    except StoreError as err:
        fail(str(err))
    cfg = store.config()
    console.print(f"run {store.root}: env {cfg['env']}, task {cfg['task']!r}, "
                  f"{'LLM-free' if cfg['model'] is None else cfg['model']}")
    _print_summary(store)
    table = Table(title="candidates")
    for column in ("id", "status", "task score", "success", "return", "train s", "reason"):
        table.add_column(column, overflow="fold")
    for row in candidate_rows(store):
        table.add_row(row["id"], row["status"], _num(row["fitness"]), _num(row["success"]), _num(row["return"]),
                      _num(row["train_s"]), row["reason"] or "")
    console.print(table)


@app.command()
def export(
    run: Path = typer.Argument(..., help="run directory"),
    candidate: Optional[str] = typer.Option(None, help="candidate id, e.g. g1c02 [default: the best of the run]"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write, e.g. reward.py"),
    force: bool = typer.Option(False, help="overwrite an existing output file"),
) -> None:
    """Write a reward as a standalone Python module (no rewardsmith import)."""
    from rewardsmith.export import ExportError, export_reward
    from rewardsmith.store import RunStore, StoreError

    try:
        store = RunStore.open(run)
        written = export_reward(store, candidate, output, force=force)
    except (StoreError, ExportError) as err:
        fail(str(err))
    console.print(f"wrote {written}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
