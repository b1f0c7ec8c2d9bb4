"""The stress set's "mjx" condition (`rewardsmith stress RUN --mjx`): the same episodes on MJX's physics.

MjxBatch steps the env's model with MJX (JAX) instead of native MuJoCo, behind the part of NativeBatch's interface an
evaluation uses (raw, sensors, step, close, model), from the same start states (a NativeBatch on the same seed draws
them: they are the baseline's). The policy acts in numpy on each control step's observation; one jitted, vmapped
function steps the batch `frame_skip` physics steps. Both backends are meant to simulate the same physics (float32
on MJX, float64 natively), so a policy whose score falls here leans on details of one simulator. Compiling the step
takes about 100 s on 2 CPU cores, hence the flag.
"""

from __future__ import annotations

import numpy as np

from rewardsmith.env.quiet_mjx import import_mjx
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch, Raw, split_sensors


class MjxBatch:
    """`num_envs` episodes of one env on MJX, started where a NativeBatch on the same seed starts them."""

    def __init__(self, env: EnvSpec, task_name: str, num_envs: int, seed: int):
        import jax
        import jax.numpy as jnp

        mjx = import_mjx()
        start = NativeBatch(env, task_name, num_envs, seed=seed)
        try:
            self.model, self.slices = start.model, start.slices
            qpos, qvel = start.raw().qpos.copy(), start.raw().qvel.copy()
        finally:
            start.close()
        self.num_envs = num_envs
        physics = mjx.put_model(self.model)

        def initial(q, v):
            return mjx.forward(physics, mjx.make_data(physics).replace(qpos=q, qvel=v))

        def control_step(data, action):
            return jax.lax.fori_loop(0, env.frame_skip, lambda _, d: mjx.step(physics, d), data.replace(ctrl=action))

        self._to_device = lambda action: jnp.asarray(action, jnp.float32)
        self._step = jax.jit(jax.vmap(control_step))
        self._data = jax.jit(jax.vmap(initial))(jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32))

    def step(self, action: np.ndarray) -> None:
        self._data = self._step(self._data, self._to_device(np.clip(action, -1.0, 1.0)))

    def raw(self) -> Raw:
        data = self._data
        return Raw(np.asarray(data.qpos, np.float64), np.asarray(data.qvel, np.float64),
                   np.asarray(data.sensordata, np.float64))

    def sensors(self) -> dict:
        return split_sensors(self.raw().sensordata, self.slices)

    def close(self) -> None:
        pass
