"""Every rewardsmith env/task as a gymnasium env: `gymnasium.make("rewardsmith/cartpole-balance-v0")`.

Import this module (or call `register_envs()`) to register them; each id is `rewardsmith/<env>-<task>-v0`.
One env steps one native MuJoCo copy exactly as the native trainer does: the action is clipped to [-1, 1] and held
for `frame_skip` physics steps; the observation is the env's `observation()`; the episode terminates when the task's
`terminate` says so and is truncated after the task's `episode_steps` control steps (no extra TimeLimit wrapper).
The reward is `reward=` (a path to a module in the reward contract, e.g. an exported numpy module) or the task's
reference reward; `info` carries the task's per-step fitness (`"fitness"`), every reward term (`"reward_terms"`,
unscaled) and the state view (`"state_view"`). The reward file is imported in this process: pass only your own code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from rewardsmith.env.registry import EnvSpec, env_names, get_env
from rewardsmith.env.sim import sensor_slices, split_sensors
from rewardsmith.errors import UserError


def load_reward_module(path: Path) -> tuple[Any, dict[str, float]]:
    """(reward_terms, SCALES) of a reward module file, imported in this process (trusted, the user's own file)."""
    spec = importlib.util.spec_from_file_location(f"rewardsmith_user_reward_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot import reward module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "reward_terms", None)) or not isinstance(getattr(module, "SCALES", None), dict):
        raise UserError(f"{path} is not a reward module: it needs reward_terms(s, action, xp) and a SCALES dict")
    return module.reward_terms, dict(module.SCALES)


class RewardsmithEnv(gymnasium.Env):
    """One rewardsmith env/task; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, env_name: str, task: str, reward: str | Path | None = None):
        self.spec_env: EnvSpec = get_env(env_name)
        self.task = self.spec_env.task(task)
        path = Path(reward) if reward is not None else self.spec_env.reference_reward_path(task)
        self.reward_terms, self.scales = load_reward_module(path)
        self.model = mujoco.MjModel.from_xml_path(str(self.spec_env.model_path))
        self.data = mujoco.MjData(self.model)
        self._slices = sensor_slices(self.model)
        self.dt = float(self.model.opt.timestep) * self.spec_env.frame_skip
        self.action_space = spaces.Box(-1.0, 1.0, (self.model.nu,), np.float32)
        self._steps = 0
        self._rng = np.random.default_rng()
        obs = self._observation()
        self.observation_space = spaces.Box(-np.inf, np.inf, obs.shape, np.float32)

    def _sensors(self) -> dict:
        return split_sensors(self.data.sensordata.copy(), self._slices)

    def state_view(self) -> dict:
        """The env's named state arrays now (what rewards and fitness read)."""
        return self.spec_env.state_view(self.data.qpos.copy(), self.data.qvel.copy(), self._sensors(), np)

    def _observation(self) -> np.ndarray:
        obs = self.spec_env.observation(self.data.qpos.copy(), self.data.qvel.copy(), self._sensors(), np)
        return np.asarray(obs, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None or self._steps == 0:
            self._rng = np.random.default_rng(self.np_random.integers(2**63))
        mujoco.mj_resetData(self.model, self.data)
        qpos, qvel = self.spec_env.initial_state(self._rng, self.model.qpos0.copy(), 1, self.task.name)
        self.data.qpos[:], self.data.qvel[:] = qpos[0], qvel[0]
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.data.ctrl[:] = action
        for _ in range(self.spec_env.frame_skip):
            mujoco.mj_step(self.model, self.data)  # sensors describe the state one physics step back, as natively
        self._steps += 1
        s = self.state_view()
        terms = {k: float(v) for k, v in self.reward_terms(s, action, np).items()}
        total = sum(self.scales[k] * terms[k] for k in self.scales)
        terminated = bool(self.task.terminate(s, np)) if self.task.terminate else False
        truncated = self._steps >= self.task.episode_steps and not terminated
        info: dict[str, Any] = {"reward_terms": terms, "state_view": s}
        if self.task.fitness is not None:
            info["fitness"] = float(self.task.fitness(s, np))
        return self._observation(), float(total), terminated, truncated, info


def env_id(env_name: str, task: str) -> str:
    return f"rewardsmith/{env_name}-{task}-v0"


def register_envs() -> list[str]:
    """Register every env/task with gymnasium; returns the ids."""
    ids = []
    for name in env_names():
        for task in get_env(name).tasks:
            gid = env_id(name, task.name)
            if gid not in gymnasium.registry:
                gymnasium.register(id=gid, entry_point="rewardsmith.env.gym_env:RewardsmithEnv",
                                   kwargs={"env_name": name, "task": task.name})
            ids.append(gid)
    return ids


register_envs()
