"""Native MuJoCo, stepped in batches: the CPU simulator behind the native trainer and evaluation.

One persistent `mujoco.rollout.Rollout` steps every env of the batch for `frame_skip` physics steps per call,
with a thread per core; the whole state lives in one numpy array that this class owns, so an env is reset by
overwriting its row. Sensors (named body positions, velocities, contacts) come back from the same call, which is
what lets the state view be computed from (qpos, qvel, sensors) identically here and on MJX.

Note: MuJoCo computes sensors at the start of a physics step, so after a control step the sensors describe the
state one physics step (one `timestep`) before the returned qpos/qvel. MJX does the same, so both backends agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

from rewardsmith.env.registry import EnvSpec

_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS


def sensor_slices(model: mujoco.MjModel) -> dict[str, slice]:
    """Name -> slice of sensordata, for every named sensor of the model."""
    slices = {}
    for i in range(model.nsensor):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_SENSOR, i)
        if name:
            adr, dim = int(model.sensor_adr[i]), int(model.sensor_dim[i])
            slices[name] = slice(adr, adr + dim)
    return slices


def split_sensors(sensordata, slices: dict[str, slice]) -> dict:
    """Named sensor arrays; a 1-d sensor keeps no trailing axis so that it reads as a scalar per env."""
    return {name: sensordata[..., s] if s.stop - s.start > 1 else sensordata[..., s.start]
            for name, s in slices.items()}


@dataclass
class Raw:
    """The raw simulator state of a batch, the only input of observations, state views and fitness."""

    qpos: np.ndarray  # [n, nq]
    qvel: np.ndarray  # [n, nv]
    sensordata: np.ndarray  # [n, nsensordata]


class NativeBatch:
    """`num_envs` copies of one env, stepped together; actions are in [-1, 1] (ctrlrange of every actuator)."""

    def __init__(self, env: EnvSpec, task_name: str, num_envs: int, seed: int, nthread: int | None = None,
                 model: mujoco.MjModel | None = None):
        """`model`: a model to step instead of the env's own (a perturbed copy: evaluate/stress.py)."""
        self.env = env
        self.task_name = task_name
        self.model = model if model is not None else mujoco.MjModel.from_xml_path(str(env.model_path))
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        # the CPUs this process may run on (an executor running several trainings at once pins each to its share)
        nthread = nthread or min(len(os.sched_getaffinity(0)) or 1, 8)
        self._datas = [mujoco.MjData(self.model) for _ in range(nthread)]
        self._rollout = rollout.Rollout(nthread=nthread)
        self.slices = sensor_slices(self.model)
        nq, nv = self.model.nq, self.model.nv
        self._qpos_cols = slice(1, 1 + nq)  # full-physics state layout: time, qpos, qvel, act, ...
        self._qvel_cols = slice(1 + nq, 1 + nq + nv)
        self.state = np.zeros((num_envs, mujoco.mj_stateSize(self.model, _STATE)))
        self.sensordata = np.zeros((num_envs, self.model.nsensordata))
        self._out_state = np.zeros((num_envs, env.frame_skip, self.state.shape[1]))
        self._out_sensors = np.zeros((num_envs, env.frame_skip, self.model.nsensordata))
        self._template = self._initial_template()
        self.reset(np.ones(num_envs, dtype=bool))

    def _initial_template(self) -> np.ndarray:
        data = self._datas[0]
        mujoco.mj_resetData(self.model, data)
        template = np.zeros(self.state.shape[1])
        mujoco.mj_getState(self.model, data, template, _STATE)
        return template

    def reset(self, mask: np.ndarray) -> None:
        """Re-draw the initial state of the envs where mask is true, and compute their sensors."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        qpos, qvel = self.env.initial_state(self.rng, self.model.qpos0.copy(), idx.size, self.task_name)
        self.state[idx] = self._template
        self.state[idx, self._qpos_cols] = qpos
        self.state[idx, self._qvel_cols] = qvel
        data = self._datas[0]
        for row in idx:  # sensors of a fresh state need one forward pass (resets are rare: once per episode)
            mujoco.mj_setState(self.model, data, self.state[row], _STATE)
            mujoco.mj_forward(self.model, data)
            self.sensordata[row] = data.sensordata

    def step(self, action: np.ndarray) -> None:
        """Advance every env by one control step (frame_skip physics steps) holding `action` constant."""
        control = np.clip(action, -1.0, 1.0)[:, None, :]
        self._rollout.rollout(
            self.model,
            self._datas,
            self.state,
            control,
            nstep=self.env.frame_skip,
            state=self._out_state,
            sensordata=self._out_sensors,
        )
        self.state[:] = self._out_state[:, -1]
        self.sensordata[:] = self._out_sensors[:, -1]

    def set_velocity(self, row: int, qvel: np.ndarray, sensordata: np.ndarray) -> None:
        """Overwrites env `row`'s joint velocities and sensors (a push: evaluate/stress.py)."""
        self.state[row, self._qvel_cols] = qvel
        self.sensordata[row] = sensordata

    def raw(self) -> Raw:
        return Raw(self.state[:, self._qpos_cols], self.state[:, self._qvel_cols], self.sensordata)

    def sensors(self) -> dict:
        return split_sensors(self.sensordata, self.slices)

    def close(self) -> None:
        self._rollout.close()
