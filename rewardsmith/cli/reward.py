"""The commands on one reward outside a run: `rewardsmith train` (train it, report its score) and `rewardsmith check`
(the sandboxed pre-flight check on a file); and which trainer is the default here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from rewardsmith.cli.progress import ProgressView
from rewardsmith.cli.ui import console, errors, fail, reward_source
from rewardsmith.runs.tensorboard import TENSORBOARD, train_board
from rewardsmith.train.trainers import TRAINERS

DEFAULT_TRAINER = {backend: name for name in TRAINERS.names() if (backend := TRAINERS.get(name).default_on)}
TRAINER_HELP = (f"{' or '.join(TRAINERS.names())} (default: {DEFAULT_TRAINER['gpu']} where JAX sees a GPU, else "
                f"{DEFAULT_TRAINER['cpu']})")


# the device nodes a GPU JAX backend needs (NVIDIA's driver, AMD's ROCm): without any, JAX cannot see a GPU
GPU_DEVICES = ("nvidia[0-9]*", "nvidiactl", "kfd")


def default_trainer() -> str:
    """The trainer whose plug is the default on JAX's backend: population where JAX sees a GPU, else native. Asked
    in a child process: starting JAX's GPU backend here would hold, for the whole run, the GPU memory XLA
    preallocates (75% of it) that the sandboxed trainer needs, and would make every later fork in this process
    warn."""
    if not any(Path("/dev").glob(pattern) for pattern in GPU_DEVICES):  # no GPU to see: spare the JAX start-up
        return DEFAULT_TRAINER["cpu"]
    probe = subprocess.run([sys.executable, "-c", "import jax; print(jax.default_backend())"], capture_output=True,
                           text=True, timeout=300, check=False)
    return DEFAULT_TRAINER["gpu" if probe.stdout.strip().endswith("gpu") else "cpu"]


def train_command(
    env: str = typer.Option(..., help="environment name"),
    task: str = typer.Option(..., help="task name (or a description: then no fitness is measured)"),
    reward: Path | None = typer.Option(None, help="reward module [default: the task's reference reward]"),
    steps: int | None = typer.Option(None, help="env steps per training [default: the task's budget]"),
    seeds: int = typer.Option(1, help="train on this many seeds (0, 1, ...)"),
    trainer: str | None = typer.Option(None, help=TRAINER_HELP),
    out: Path = typer.Option(Path("runs/train"), help="where policies and logs go"),
    tensorboard: str | None = TENSORBOARD,
) -> None:
    """Train one reward and report task score and success rate (mean ± std over seeds), steps and wall time."""
    from rewardsmith.config import train_config_for
    from rewardsmith.env.check import refuse_placeholders
    from rewardsmith.env.registry import get_env, resolve_task, use_envs_dir
    from rewardsmith.execute.check_stage import check_in_sandbox
    from rewardsmith.execute.seeds import train_seeds
    from rewardsmith.runs.store import check_writable, new_run_id

    use_envs_dir(None)  # a REWARDSMITH_ENVS that names no folder: one line, not "unknown env"
    env_spec = get_env(env)
    refuse_placeholders(env_spec)
    task_spec = resolve_task(env_spec, task)
    if seeds < 1 or (steps is not None and steps < 1):
        fail("--seeds and --steps must be positive integers")
    trainer_name = TRAINERS.check(trainer or default_trainer())
    check_writable(out)
    source = reward_source(env_spec, task_spec, reward)
    run_dir = out / new_run_id(env, task)
    report = check_in_sandbox(env_spec.name, task, source, run_dir / "check")
    if not report.passed:
        fail("the reward does not pass the check: " + "; ".join(report.errors), code=1)
    cfg = train_config_for(env_spec.ppo, steps=steps or task_spec.train_steps)
    console.print(f"training {env}/{task_spec.name} with {'the reference reward' if reward is None else reward} "
                  f"on {seeds} seed(s), {TRAINERS.get(trainer_name).steps_of(cfg):,} steps each, trainer "
                  f"{trainer_name}; logs in {run_dir}")
    with ProgressView(seeds=seeds) as view, train_board(view, tensorboard, run_dir) as events:
        summary = train_seeds(env_spec, task, source, cfg, list(range(seeds)), run_dir, events, trainer_name)
    from rewardsmith.runs.store import write_json

    write_json(run_dir / "summary.json", summary.to_dict())
    ok = [r for r in summary.seeds if r.ok]
    for name, field in (("task score", "fitness"), ("success rate", "success_rate"), ("return", "return_mean")):
        stats = summary.mean_std(field)
        if stats:
            console.print(f"{name}: {stats[0]:.3f} ± {stats[1]:.3f}")
    if ok:
        console.print(f"steps per seed: {ok[0].steps:,}; wall time per seed: "
                      f"{sum(r.wall_s or 0.0 for r in ok) / len(ok):.1f} s")
    if len(ok) < seeds:
        reasons = "; ".join(r.reason for r in summary.seeds if r.reason)
        fail(f"{seeds - len(ok)} of {seeds} trainings failed: {reasons}", code=1)


def check_command(
    reward: Path = typer.Argument(..., help="reward module to check"),
    env: str = typer.Option(..., help="environment name"),
    task: str | None = typer.Option(None, help="task name [default: the env's first task]"),
) -> None:
    """Run the static policy and the sandboxed pre-flight check on a reward file; exit 0 when it passes."""
    import tempfile

    from rewardsmith.env.registry import get_env, resolve_task, use_envs_dir
    from rewardsmith.execute.check_stage import check_in_sandbox

    use_envs_dir(None)  # a REWARDSMITH_ENVS that names no folder: one line, not "unknown env"
    env_spec = get_env(env)
    task_spec = resolve_task(env_spec, task) if task else env_spec.tasks[0]
    source = reward_source(env_spec, task_spec, reward, flag="REWARD")
    with tempfile.TemporaryDirectory(prefix="rewardsmith-check-") as tmp:
        report = check_in_sandbox(env_spec.name, task_spec.name, source, Path(tmp) / "check")
    for warning in report.warnings:
        console.print(f"warning: {warning}", soft_wrap=True)
    if not report.passed:
        for error in report.errors:
            errors.print(f"error: {error}", soft_wrap=True)
        raise typer.Exit(1)
    per_call = f", {report.per_call_ms:.2f} ms per call" if report.per_call_ms is not None else ""
    console.print(f"passed: terms {', '.join(report.terms)} ({report.seconds:.1f} s{per_call}; "
                  f"isolation: {', '.join(report.isolation) or 'none'})")
