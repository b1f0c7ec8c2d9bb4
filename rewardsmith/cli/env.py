"""`rewardsmith env new|check`: the user's own robot. User envs live in a folder of their own, named by --envs-dir
or the REWARDSMITH_ENVS environment variable; their names must not clash with the built-in envs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

_ENVS_DIR_HELP = "the folder holding your own envs (default: $REWARDSMITH_ENVS)"


def _fail(line: str) -> None:
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(2)


def _envs_dir(option: Path | None, new: bool = False) -> Path:
    """The envs folder: --envs-dir, else REWARDSMITH_ENVS. `env new` may name one still to make (a first env);
    `env check` needs it to exist (registry.use_envs_dir refuses one that does not, in one line)."""
    from rewardsmith.env.registry import use_envs_dir

    value = option if option is not None else os.environ.get("REWARDSMITH_ENVS", "").strip()
    if not value:
        _fail("no envs folder: pass --envs-dir DIR or set REWARDSMITH_ENVS=DIR")
    if not new:
        return Path(use_envs_dir(option) or value)
    path = Path(value).expanduser().resolve()
    os.environ["REWARDSMITH_ENVS"] = str(path)  # this process's registry (and its sandboxed children) use it
    return path


def _builtin_names() -> list[str]:
    from rewardsmith.env.registry import _folder_names
    from rewardsmith.resources import ENVS_DIR

    return _folder_names(ENVS_DIR)


@app.command("new")
def new(
    name: str = typer.Argument(..., help="the new env's name (lowercase, digits, _)"),
    model: Path = typer.Option(..., "--model", help="the robot's MJCF file"),
    envs_dir: Path | None = typer.Option(None, "--envs-dir", help=_ENVS_DIR_HELP),
) -> None:
    """Scaffold ENVS_DIR/NAME from an MJCF file: model.xml, state_view.py, env.py, rewards/move.py, with TODOs."""
    from rewardsmith.env.scaffold import ScaffoldError, scaffold

    folder = _envs_dir(envs_dir, new=True)
    try:
        target = scaffold(name, model, folder, _builtin_names())
    except ScaffoldError as exc:
        _fail(str(exc))
    typer.echo(f"created {target}: write each TODO in env.py (DESCRIPTION, the task's texts, fitness, terminate, "
               f"success), state_view.py and rewards/move.py; `rewardsmith env check {name}` lists those left")


@app.command("check")
def check(
    name: str = typer.Argument(..., help="the env to check"),
    envs_dir: Path | None = typer.Option(None, "--envs-dir", help=_ENVS_DIR_HELP),
) -> None:
    """Validate an env folder: each problem is one line saying what to fix."""
    from rewardsmith.env.check import check_env_folder
    from rewardsmith.program.check import check_reference_rewards
    from rewardsmith.resources import ENVS_DIR

    folder_root = _envs_dir(envs_dir)
    builtin = _builtin_names()
    folder = folder_root / name
    if name in builtin and folder.is_dir():
        _fail(f"env {name!r} in {folder_root} clashes with a built-in env; rename it (built-in: {', '.join(builtin)})")
    if not folder.is_dir():
        if name in builtin:
            folder = ENVS_DIR / name
        else:
            _fail(f"no env folder {folder}; create it with `rewardsmith env new {name} --model robot.xml`")
    problems = check_env_folder(folder)
    if not problems:
        from rewardsmith.env.registry import get_env

        tasks = [t.name for t in get_env(name).tasks]
        problems = check_reference_rewards(name, tasks, folder)
    for line in problems:
        typer.echo(f"FIX: {line}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"env {name!r} ({folder}) passed every check")
