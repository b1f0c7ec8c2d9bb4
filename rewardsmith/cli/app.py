"""The `rewardsmith` command: thin typer commands over library functions; all terminal output lives here."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from rewardsmith.cli import env as env_commands
from rewardsmith.cli import memory as memory_commands
from rewardsmith.cli.ablate import ablate_command
from rewardsmith.cli.card import export_card, replay_command
from rewardsmith.cli.config_file import FILE_FIELDS, ConfigCommand
from rewardsmith.cli.endings import nothing_evaluated, print_dry_run, print_finished
from rewardsmith.cli.play import play_command
from rewardsmith.cli.progress import ProgressView
from rewardsmith.cli.reward import TRAINER_HELP, check_command, default_trainer, train_command
from rewardsmith.cli.runs import fork_command, print_fork, runs_command
from rewardsmith.cli.stress import stress_command
from rewardsmith.cli.ui import (
    WRITE_ERRNOS,
    OneLineErrors,
    console,
    errors,
    fail,
    higher_cap,
    init_source,
    num,
    print_summary,
    who_writes_and_ranks,
)
from rewardsmith.config import ALLOCATIONS, RUN_SETTINGS, RunConfig, TrainConfig, check_host, flag_fields
from rewardsmith.errors import INTERRUPTED, STOPPED, UserError
from rewardsmith.exports import FORMATS
from rewardsmith.feedback.rankers import RANKERS, rankers_that
from rewardsmith.feedback.review.access import parse_duration
from rewardsmith.runs.tensorboard import TENSORBOARD, export_run
from rewardsmith.train.trainers import trainers_that

# No locals in tracebacks: they could hold API keys.
app = OneLineErrors(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
app.add_typer(env_commands.app, name="env", help="Your own robot: `env new NAME --model robot.xml`, `env check NAME`.")
app.add_typer(memory_commands.app, name="memory", help="The memory of verified terms: list, show, add RUN, clear.")
app.command("play")(play_command)  # rewardsmith/cli/play.py
app.command("runs")(runs_command)  # rewardsmith/cli/runs.py
app.command("fork")(fork_command)  # rewardsmith/cli/runs.py
app.command("train")(train_command)  # rewardsmith/cli/reward.py
app.command("check")(check_command)  # rewardsmith/cli/reward.py
app.command("stress")(stress_command)  # rewardsmith/cli/stress.py
app.command("replay")(replay_command)  # rewardsmith/cli/card.py
app.command("ablate")(ablate_command)  # rewardsmith/cli/ablate.py
# where halving is on by default (execute/train_stage.halving_default), in the words the README uses
HALVING_DEFAULT = (f"{' or '.join(rankers_that(lambda plug: plug.needs_fitness))} feedback and the "
                   f"{' or '.join(trainers_that(lambda plug: plug.continues))} trainer")


@app.callback()
def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (kill, a scheduler, a container stop) ends the command through the `finally` blocks, as Ctrl-C
    does: they kill the sandboxed training's process group; a plain SIGTERM death would leave it running."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def resolve_models(models: list[str] | None, api_bases: list[str] | None, llm_free: bool) -> tuple[str, ...]:
    """The litellm model strings to use (several split each round's samples), or () for the LLM-free mode."""
    if llm_free:
        if models or api_bases:
            fail("--llm-free cannot be combined with --model or --api-base; choose one")
        return ()
    if models:
        return tuple(models)
    if os.environ.get("REWARDSMITH_MODEL"):
        return (os.environ["REWARDSMITH_MODEL"],)
    if api_bases:
        return ("openai/default",)  # a local OpenAI-compatible server usually serves whatever model it has loaded
    if os.environ.get("OPENAI_API_KEY"):
        return ("openai/gpt-4o-mini",)
    if os.environ.get("ANTHROPIC_API_KEY"):
        return ("anthropic/claude-3-5-haiku-latest",)
    fail("no LLM configured: pass --model MODEL (with its API key in the environment), --api-base URL for a local "
         "OpenAI-compatible server, or --llm-free to evolve the reference reward's scales without an LLM")


@app.command()
def envs(
    envs_dir: Path | None = typer.Option(None, help="the folder of your own envs (default: $REWARDSMITH_ENVS)"),
) -> None:
    """List the environments (built-in and your own) and their tasks."""
    from rewardsmith.env.registry import env_names, get_env, use_envs_dir

    use_envs_dir(envs_dir)
    table = Table(title="environments")
    for column in ("env", "task", "episode steps", "budget (steps)", "description"):
        table.add_column(column)
    for name in env_names():
        env = get_env(name)
        for task in env.tasks:
            table.add_row(name, task.name, str(task.episode_steps), f"{task.train_steps:,}", task.description)
    console.print(table)


# What `evolve --resume RUN` may change (option -> field; config.py marks the fields); every other setting is the
# run's own (config.json).
RESUME_OVERRIDES = {s.flag: s.name for s in RUN_SETTINGS.values() if s.resume and s.flag is not None}


@app.command(cls=ConfigCommand)
def evolve(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, help="a TOML file of these settings by their config names (see README, "
                                       "Run configs); flags given here override it"),
    env: str = typer.Option(None, help="environment name (see `rewardsmith envs`)"),
    task: str = typer.Option(None, help="a task name of the env, or a description of a new task"),
    model: list[str] | None = typer.Option(
        None, help="litellm model string, e.g. openai/gpt-4o-mini [env: REWARDSMITH_MODEL]; repeat it to split each "
                   "round's samples across models (evenly, earlier models take the remainder)"),
    api_base: list[str] | None = typer.Option(
        None, help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1; once for every model, or "
                   "once per --model in the same order"),
    init: Path | None = typer.Option(None, help="your own reward module: a candidate of generation 0 and the LLM's "
                                     "starting point (Eureka's human initialisation)"),
    train_seeds: int = typer.Option(RunConfig.train_seeds, help="train each candidate on this many seeds; rank by "
                                    "the mean task score"),
    halving: bool | None = typer.Option(
        None, "--halving/--no-halving", help="successive halving: all candidates train a slice of the budget, the "
        f"better half goes on (default: on with {HALVING_DEFAULT}, off otherwise)"),
    inherit: bool | None = typer.Option(
        None, "--inherit/--no-inherit", help="children start from their parent's trained policy and train half the "
        "budget (ROSKA-style); the answer is still retrained from scratch (--final-seeds) (default: on where the "
        "trainer can start from a policy: native, population)"),
    allocation: str = typer.Option(
        RunConfig.allocation, help=f"how halving's budget is shared out: {' or '.join(ALLOCATIONS)}; adaptive: the "
        "same env steps in slices of the first rung, each slice to the candidate whose learning curve promises most "
        "(not with --no-halving)"),
    evolve_termination: bool = typer.Option(False, "--evolve-termination", help="the LLM may also write "
                                            "terminate(s, xp), OR'ed with the task's termination in training only"),
    llm_free: bool = typer.Option(False, "--llm-free", help="no LLM: evolve the SCALES of the task's reference reward"),
    iterations: int = typer.Option(RunConfig.iterations, help="generations (with --resume: extends a finished run)"),
    samples: int = typer.Option(RunConfig.samples, help="reward programs per generation (K)"),
    islands: int = typer.Option(RunConfig.islands, help="split each generation's samples over N islands, each with "
                                "its own parent and history (README, Islands)"),
    migrate_every: int = typer.Option(RunConfig.migrate_every, help="--islands: every M generations the run's best "
                                      "becomes the parent of the island whose parent is worst (0: never)"),
    train_steps: int | None = typer.Option(None, help="env steps per training [default: the task's budget]"),
    stop_at_success: bool = typer.Option(
        TrainConfig.stop_at_success, "--stop-at-success",
        help=f"stop a candidate's training once a deterministic evaluation at a checkpoint has a task success rate of "
             f"at least {TrainConfig.stop_success_rate} (tasks with a success threshold only)"),
    seed: int = typer.Option(RunConfig.seed),
    feedback: str = typer.Option(RunConfig.feedback, help=f"how a generation is ranked: {', '.join(RANKERS.names())}"),
    synthetic_noise: float = typer.Option(RunConfig.synthetic_noise, help="noise of the synthetic ranker's fitness"),
    judge_model: str | None = typer.Option(None, help="--feedback judge/hybrid: the vision LLM that ranks the films"),
    judge_api_base: str | None = typer.Option(None, help="--feedback judge/hybrid: its OpenAI-compatible server"),
    judge_min_tau: float = typer.Option(RunConfig.judge_min_tau, help="hybrid: the judge is confident (its order may "
                                        "stand alone) when its two looks agree this well (Kendall tau, -1 to 1)"),
    review_port: int | None = typer.Option(
        None, help=f"port of the review page (human/hybrid), 0 = any free one [default: {RunConfig.review_port}; "
                   "with --resume: the run's]"),
    video: bool = typer.Option(RunConfig.video, "--video/--no-video", help="film every evaluated candidate"),
    blind: bool = typer.Option(False, "--blind", help="the review page hides task scores and success rates"),
    reviewers: int = typer.Option(RunConfig.reviewers, help="human/hybrid: wait for this many people's rankings"),
    review_deadline: float | None = typer.Option(None, parser=parse_duration, metavar="DURATION", help="stop "
                                                 "waiting for more after this long (600, 10m, 1h30m) once one ranked; "
                                                 "hybrid: a confident judge's order stands then (default 10m)"),
    review_host: str = typer.Option(RunConfig.review_host, help="serve the review page here; off loopback it needs the "
                                    "secret token of the printed URL"),
    on_ranking_due: str | None = typer.Option(None, help="command run (no shell) when a generation awaits rankings; "
                                              "env REWARDSMITH_RUN, REWARDSMITH_GEN, REWARDSMITH_REVIEW_URL"),
    trainer: str | None = typer.Option(None, help=TRAINER_HELP),
    executor: str = typer.Option(RunConfig.executor, help="where the trainings run: local (this machine) or ray (a "
                                 "Ray cluster; see README, Running on a cluster)"),
    parallel: int | None = typer.Option(None, help="--executor local: trainings at once, each on its share of the "
                                        "CPUs (default: 2 for a CPU trainer on a machine of 2 CPUs or more, else 1)"),
    ray_address: str | None = typer.Option(None, help="--executor ray: the cluster's address, e.g. 10.0.0.5:6379 "
                                           "(default: a running cluster, else a new local one)"),
    final_seeds: int = typer.Option(RunConfig.final_seeds, help="at the end (metrics feedback): retrain the best "
                                    "reward and its contenders from scratch on this many new seeds and decide the "
                                    "answer on them (0: no confirmation)"),
    race_seeds: int = typer.Option(RunConfig.race_seeds, help="metrics feedback: while a generation's pick is not "
                                   "confident (P(best) < 0.8), up to this many rounds of one more seed for each "
                                   "contender (0: no racing)"),
    select_robust: bool = typer.Option(
        RunConfig.select_robust, "--select-robust", help="metrics feedback: also stress every trained policy (masses, "
        "friction, actuators +-20%, pushes, observation noise) and pick by the worst case instead of the task score"),
    temperature: float = typer.Option(RunConfig.temperature, help="LLM sampling temperature"),
    max_cost: float | None = typer.Option(
        None, help="USD the run may spend on the LLM: before each request its worst case (prompt + --max-tokens x "
                   "samples at litellm's prices) is checked and the run stops rather than pass the cap; --resume "
                   "with a higher cap continues (default: no cap)"),
    llm_timeout: float = typer.Option(RunConfig.llm_timeout_s, help="seconds one LLM request may take"),
    max_tokens: int | None = typer.Option(None, help="output cap per LLM reply (default: the provider's)"),
    out: Path = typer.Option(Path("runs"), help="directory that holds runs"),
    resume: Path | None = typer.Option(None, help="continue an interrupted run (its directory)"),
    envs_dir: Path | None = typer.Option(None, help="the folder of your own envs (default: $REWARDSMITH_ENVS)"),
    tensorboard: str | None = TENSORBOARD,
    memory: str | None = memory_commands.MEMORY_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, print the first prompt, its tokens and "
                                 "the run's estimated LLM and judge cost; send nothing, train nothing, write nothing"),
) -> None:
    """Evolve reward programs for a task: sample, check, train, evaluate, reflect, repeat."""
    flags = dict(locals())  # the parameters above by name: the RunConfig fields come from them (flag_fields)
    from rewardsmith.context import open_run
    from rewardsmith.env.registry import use_envs_dir
    from rewardsmith.evolve import dry_run as dry_run_of
    from rewardsmith.evolve import evolve as run_evolve
    from rewardsmith.evolve import prepare
    from rewardsmith.execute.fanin import ExecutorUnavailable
    from rewardsmith.llm.budget import CostCapReached
    from rewardsmith.runs.lock import run_lock
    from rewardsmith.runs.store import RunStore, new_run_id

    store = None
    try:
        if resume is not None and dry_run:
            fail("--dry-run previews a new run; a resumed run's prompts are in RUN/gen_XX/messages.json")
        if resume is not None:
            store = open_run(resume)
            cfg = _resumed_config(ctx, store.config(), flags)
            # the LLM servers are probed only where a generation is still to be decided (a resume that only films
            # what a killed run left needs no LLM)
            prepare(cfg, probe=any(store.load_selection(g) is None for g in range(cfg.iterations)))
        else:
            if not env or task is None:
                fail("--env and --task are required (or --resume RUN); see `rewardsmith envs` for the choices")
            # the options whose values a field takes as they are, the fields only a run config gives (--config:
            # max_sample_rounds, train), then those the command turns into a field's value
            file_fields = ctx.meta.get(FILE_FIELDS, {})
            cfg = RunConfig(**{**flag_fields(flags), **file_fields,
                               "models": resolve_models(model, api_base, llm_free),
                               "api_bases": tuple(api_base or ()), "init_source": init_source(init),
                               "review_port": RunConfig.review_port if review_port is None else review_port,
                               "trainer": trainer or default_trainer(), "envs_dir": use_envs_dir(envs_dir),
                               "train": {**file_fields.get("train", {}),
                                         **({"stop_at_success": True} if stop_at_success else {})}})
            if dry_run:
                print_dry_run(dry_run_of(cfg), cfg)
                return
            prepare(cfg)  # bad input fails here, before anything is written
            store = RunStore.create(out, new_run_id(cfg.env, cfg.task), cfg)
        with run_lock(store):
            if resume is not None and cfg != store.config():
                store.save_config(cfg)  # the settings a resume may change (see RESUME_OVERRIDES)
            console.print(f"run: {store.root}  ({who_writes_and_ranks(cfg)}; trainer {cfg.trainer})",
                          soft_wrap=True, markup=False)
            with ProgressView(cfg.iterations, cfg.samples) as view:
                result = run_evolve(store, cfg, view)
    except CostCapReached as stop:
        assert store is not None
        print_summary(store)
        errors.print(f"stopped: {escape(str(stop))}. Continue with: rewardsmith evolve --resume {store.root} "
                     f"--max-cost {higher_cap(stop)}", soft_wrap=True)
        raise typer.Exit(STOPPED) from None
    except ExecutorUnavailable as gone:  # a Ray cluster that cannot be reached or went away
        assert store is not None
        errors.print(f"stopped: {escape(str(gone))}. Continue with: rewardsmith evolve --resume {store.root}",
                     soft_wrap=True)
        raise typer.Exit(STOPPED) from None
    except KeyboardInterrupt:  # Ctrl-C: where the run is and how to go on (what was saved stays valid)
        state = (f"; what it saved stays valid: rewardsmith evolve --resume {store.root} continues it"
                 if store is not None else "; nothing was written")
        errors.print(f"interrupted{state}", soft_wrap=True, markup=False)
        raise typer.Exit(INTERRUPTED) from None
    except (UserError, typer.Exit):
        raise  # bad input: one line, exit 2 (ui.OneLineErrors); or a line already printed
    except Exception as err:
        if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:  # a full disk, a read-only run directory
            where = store.root if store is not None else out
            fail(f"cannot write the run in {where}: {err.strerror or err}"
                 f"{f' ({err.filename})' if err.filename else ''}; make room (or fix the permissions), then "
                 f"rewardsmith evolve --resume {where}", code=1)
        if store is not None:  # a bug: its traceback follows, and what was saved stays valid
            errors.print(f"the run stopped on an unexpected error (traceback below); what it saved stays valid: "
                         f"rewardsmith evolve --resume {store.root} continues it", soft_wrap=True, markup=False)
        raise
    print_finished(store, result)
    if result.memory:  # --memory: what became of the answer's entry
        console.print(result.memory, soft_wrap=True, markup=False)
    empty = nothing_evaluated(store)
    if empty:
        fail(empty, code=1)


def _resumed_config(ctx: typer.Context, cfg: RunConfig, given: dict) -> RunConfig:
    """The run's saved settings with the few a resume may change; any other option given is refused."""
    def given_here(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    on_command_line = [name for name in ctx.params if given_here(name) and name != "resume"]
    refused = [name for name in on_command_line if name not in RESUME_OVERRIDES]
    if refused:
        names = ", ".join("--" + name.replace("_", "-") for name in refused)
        allowed = ", ".join("--" + name.replace("_", "-") for name in RESUME_OVERRIDES)
        fail(f"--resume continues a run with its saved settings; {names} cannot change (a resume may give only "
             f"{allowed})")
    changes = {RESUME_OVERRIDES[name]: given[name] for name in on_command_line}
    return dataclasses.replace(cfg, **changes)


@app.command()
def show(run: Path = typer.Argument(..., help="run directory"),
         plot: bool = typer.Option(False, "--plot", help="write PNG plots under RUN/plots, print their paths"),
         tensorboard: str | None = TENSORBOARD) -> None:
    """Generations, candidates, status, fitness, failure reasons and cost of a run."""
    from rewardsmith.context import open_run
    from rewardsmith.runs.show import candidate_rows, model_rows

    store = open_run(run)
    cfg = store.config()
    console.print(f"run {store.root}: env {cfg.env}, task {cfg.task!r}, {who_writes_and_ranks(cfg)}",
                  soft_wrap=True, markup=False)
    print_fork(store)
    print_summary(store)
    table = Table(title="candidates")
    rows = candidate_rows(store)
    stressed = any(row.worst_case for row in rows)  # evolve --select-robust: picked by the worst case under stress
    for column in ("id", "source", "status", "task score [95%]", "seeds", "success [95%]", "return", "train s",
                   *(("worst case under stress",) if stressed else ()), "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.id, row.source, row.status, row.score_interval or num(row.fitness), str(row.seeds),
                      row.success_interval or num(row.success), num(row.return_mean), num(row.train_s),
                      *((row.worst_case,) if stressed else ()), row.reason or "")
    console.print(table)
    for row in (r for r in rows if r.reference):  # what the evolved rewards are measured against
        console.print(f"reference: {row.id} is {row.source}: task score {row.score_interval or num(row.fitness)}",
                      soft_wrap=True, markup=False)
    by_model = Table(title="by source of programs")
    for column in ("source", "programs", "passed check", "evaluated", "mean task score", "best task score"):
        by_model.add_column(column)
    for source in model_rows(store):
        by_model.add_row(source.source, str(source.programs), str(source.passed_check), str(source.evaluated),
                         num(source.mean_fitness), num(source.best_fitness))
    console.print(by_model)
    if plot:
        from rewardsmith.runs.plots import write_plots
        for path in write_plots(store):
            console.print(f"plot: {path}", soft_wrap=True)
    export_run(store, tensorboard, console.print)


@app.command()
def export(
    run: Path = typer.Argument(..., help="run directory"),
    candidate: str | None = typer.Option(None, help="candidate id, e.g. g1c02 [default: the best of the run]"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write, e.g. reward.py (policy.npz with --policy)"),
    format: str | None = typer.Option(None, "--format", help=f"{' | '.join(FORMATS.names())} (default: numpy; "
                                      "not with --policy)"),
    policy: bool = typer.Option(False, "--policy", help="export the trained policy (.npz + a numpy .py) instead"),
    card: bool = typer.Option(False, "--card", help="write a reward card: the folder -o DIR with the reward, policy, "
                              "film, curves, measurement, cost and README (`rewardsmith replay DIR` retrains it)"),
    force: bool = typer.Option(False, help="overwrite an existing output file"),
    pruned: bool = typer.Option(False, "--pruned", help="the reward `rewardsmith ablate` pruned, not the original"),
) -> None:
    """Write a reward as a standalone Python module (no rewardsmith import), or the trained policy."""
    from rewardsmith.context import open_run
    from rewardsmith.exports import export_reward
    from rewardsmith.exports.policy import export_policy

    if policy and format is not None:
        fail(f"--format chooses the reward's array library; a --policy export is always numpy (.npz and a .py "
             f"that loads it): leave --format {format} out")
    if policy and pruned and not card:
        fail("--pruned exports the reward ablate pruned; no policy was trained on it for --policy: leave one out")
    store = open_run(run)
    if card:
        return export_card(store, candidate, output, force, format, policy, pruned)  # rewardsmith/cli/card.py
    try:
        if policy:
            npz, script = export_policy(store, candidate, output, force=force)
            console.print(f"wrote {npz} and {script}")
            return
        written = export_reward(store, candidate, output, force=force, fmt=format or "numpy", pruned=pruned)
    except OSError as err:  # checked before writing (exports.check_output); a full disk or a race still lands here
        fail(f"cannot write {err.filename or output}: {err.strerror or err}; nothing was exported", code=1)
    console.print(f"wrote {written}")


@app.command()
def review(
    run: Path = typer.Argument(..., help="run directory"),
    port: int = typer.Option(RunConfig.review_port, min=0, max=65535, help="port of the page (0 = any free port)"),
    host: str = typer.Option(RunConfig.review_host, help="serve the page here (as evolve's --review-host); off "
                             "loopback it needs the secret token of the printed URL"),
    blind: bool = typer.Option(False, "--blind", help="hide task scores and success rates (a --blind run always)"),
) -> None:
    """Open the review page of a run: watch each generation's videos side by side and rank them."""
    from rewardsmith.feedback.review.cli import review_command

    check_host(host, "--host")
    review_command(run, port, echo=console.print, blind=blind, host=host)


@app.command()
def rank(
    run: Path = typer.Argument(..., help="run directory"),
    best: str | None = typer.Option(None, help="id of the best candidate, e.g. g1c02 (required without --judge)"),
    worst: str | None = typer.Option(None, help="id of the worst candidate (required without --judge)"),
    judge: bool = typer.Option(False, "--judge", help="hybrid: take the judge's proposed order as your ranking"),
    order: list[str] | None = typer.Option(None, help="full order best -> worst: repeat or give a comma list"),
    comment: list[str] | None = typer.Option(
        None, "--comment", "-c", help="'ID=text' about one candidate, or text about the generation; repeatable"),
    generation: int | None = typer.Option(None, help="generation to rank [default: the one awaiting a ranking]"),
    reviewer: str | None = typer.Option(None, help="your name (needed where several people rank each generation)"),
) -> None:
    """Rank the generation a run is waiting on, from the terminal (the review page does the same)."""
    from rewardsmith.feedback.review.cli import rank_command

    ranking = rank_command(run, best, worst, order, comment or [], generation, reviewer, judge)
    console.print(f"ranked generation {ranking.generation}: best {ranking.best}, worst {ranking.worst}"
                  + (f" (reviewer {ranking.reviewer})" if ranking.reviewer else ""))


def main() -> None:  # pragma: no cover - console entry point
    app()
