"""Environment registry: discovers envs/<name>/ and resolves task names.

An environment folder holds (all human-written, trusted code):
  model.xml        the MJCF model, simulated identically by native MuJoCo and MJX
  env.py           FRAME_SKIP, observation(), initial_state(), CAMERA, TASKS (a list of tasks.Task)
  state_view.py    state_view(qpos, qvel, sensor, xp) -> dict of named arrays; its source is the LLM's context
  rewards/<task>.py  the human-written reference reward of each named task, in the reward contract

The same `state_view` and `observation` functions run with numpy (native CPU trainer) and jax.numpy (MJX),
so every env computes them from qpos, qvel and named sensors only.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from rewardsmith.env.task import Task
from rewardsmith.errors import UserError
from rewardsmith.registry import UnknownNameError
from rewardsmith.resources import ENVS_DIR, user_envs_dir


@dataclass(frozen=True)
class EnvSpec:
    name: str
    folder: Path
    description: str
    frame_skip: int
    observation: Callable  # (qpos, qvel, sensor, xp) -> [..., obs_dim]
    initial_state: Callable  # (rng: np.random.Generator, qpos0, n) -> (qpos [n,nq], qvel [n,nv])
    state_view: Callable  # (qpos, qvel, sensor, xp) -> {name: array}
    tasks: tuple[Task, ...]
    camera: str
    ppo: dict  # per-env PPO settings that override rewardsmith.config.TrainConfig defaults
    ppo_mjx: dict  # Brax PPO settings for the MJX trainer (GPU-sized batches), over those derived from `ppo`

    @property
    def model_path(self) -> Path:
        return self.folder / "model.xml"

    @property
    def state_view_source(self) -> str:
        return (self.folder / "state_view.py").read_text()

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise UnknownNameError(
            f"unknown task {name!r} for env {self.name!r}; valid tasks: {', '.join(t.name for t in self.tasks)}"
        )

    def reference_reward_path(self, task_name: str) -> Path:
        return self.folder / "rewards" / f"{task_name}.py"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the module need to find it
    spec.loader.exec_module(module)
    return module


def _folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / "env.py").is_file()) if folder.is_dir() else []


def use_envs_dir(folder: str | Path | None) -> str | None:
    """The user's envs folder in effect, as an absolute path (None when there is none). A folder given (--envs-dir,
    or the one a run recorded) becomes REWARDSMITH_ENVS for this process and the sandboxed children it starts;
    None keeps what the variable says. UserError, one line, when the folder given or the variable's is not a
    directory: a mistyped REWARDSMITH_ENVS would otherwise only show as "unknown env" (the commands call this
    before they resolve an env; the library itself does not refuse, as a Ray node's own variable may be stale)."""
    import os

    if folder is not None:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise UserError(f"--envs-dir {folder} is not a folder; give the folder that holds your envs (each env a "
                             "subfolder with env.py, made by `rewardsmith env new NAME --model robot.xml`)")
        os.environ["REWARDSMITH_ENVS"] = str(path)
    user = user_envs_dir()
    if user is not None and not user.is_dir():
        raise UserError(f"REWARDSMITH_ENVS is {os.environ['REWARDSMITH_ENVS']!r}, which is not a folder; set it to "
                        "the folder that holds your envs (or unset it, or give --envs-dir DIR)")
    return str(user) if user is not None else None


def use_run_envs_dir(recorded: str | None) -> None:
    """Makes a run's recorded envs folder the one in effect, so `--resume`, `show`, `review`, `export` and `play`
    find its env without REWARDSMITH_ENVS; a recorded folder that is gone leaves the variable in effect (set it to
    the folder's new place), refused when it names no folder."""
    use_envs_dir(recorded if recorded is not None and Path(recorded).is_dir() else None)


def env_names(envs_dir: Path = ENVS_DIR) -> list[str]:
    """Built-in env names plus, for the default folder, those in the user's folder (REWARDSMITH_ENVS)."""
    names = _folder_names(envs_dir)
    user = user_envs_dir() if envs_dir == ENVS_DIR else None
    return sorted(set(names) | set(_folder_names(user))) if user is not None else names


def _env_folder(name: str, envs_dir: Path) -> Path:
    user = user_envs_dir() if envs_dir == ENVS_DIR else None
    builtin = name in _folder_names(envs_dir)
    if user is not None and name in _folder_names(user):
        if builtin:
            raise UserError(
                f"env {name!r} in {user} clashes with a built-in env of that name; rename the user env folder"
                f" (built-in envs: {', '.join(_folder_names(envs_dir))})"
            )
        return user / name
    if builtin:
        return envs_dir / name
    raise UnknownNameError(f"unknown env {name!r}; valid envs: {', '.join(env_names(envs_dir))}")


def get_env(name: str, envs_dir: Path = ENVS_DIR) -> EnvSpec:
    return _get_env(name, envs_dir, user_envs_dir() if envs_dir == ENVS_DIR else None)


@cache
def _get_env(name: str, envs_dir: Path, user: Path | None) -> EnvSpec:
    folder = _env_folder(name, envs_dir)
    env_module = load_module(folder / "env.py", f"rewardsmith_env_{name}")
    view_module = load_module(folder / "state_view.py", f"rewardsmith_env_{name}_view")
    return EnvSpec(
        name=name,
        folder=folder,
        description=env_module.DESCRIPTION,
        frame_skip=env_module.FRAME_SKIP,
        observation=env_module.observation,
        initial_state=env_module.initial_state,
        state_view=view_module.state_view,
        tasks=tuple(env_module.TASKS),
        camera=env_module.CAMERA,
        ppo=dict(getattr(env_module, "PPO", {})),
        ppo_mjx=dict(getattr(env_module, "PPO_MJX", {})),
    )


def resolve_task(env: EnvSpec, text: str) -> Task:
    """A registered task name, or a free-text description: a task with no fitness metric (rankings must then
    come from a person). A single word that names no task is taken as a mistyped name, not as a description."""
    text = text.strip()
    if not text:
        raise UserError("the task text is empty; give a task name (see `rewardsmith envs`) or a description")
    for task in env.tasks:
        if task.name == text:
            return task
    if len(text.split()) == 1:
        raise UnknownNameError(
            f"unknown task {text!r} for env {env.name!r}; valid tasks: {', '.join(t.name for t in env.tasks)}"
            " (or describe a new task in a sentence)"
        )
    default = env.tasks[0]
    return Task(
        name="custom",
        description=text,
        episode_steps=default.episode_steps,
        train_steps=default.train_steps,
        fitness=None,
        success_threshold=None,
        terminate=default.terminate,
        termination_doc=default.termination_doc,
    )
