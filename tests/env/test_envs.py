"""Smoke tests of every registered env and task: the model loads and steps, the state view, observation, fitness,
termination and reference reward have the right shapes and are finite, and native MuJoCo and MJX agree on the
state view of the same states (one jit-compiled MJX forward pass per env)."""

from __future__ import annotations

import sys

import mujoco
import numpy as np
import pytest

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.env.sim import NativeBatch, sensor_slices, split_sensors

N = 8
ENVS = env_names()
ENV_TASKS = [(env, task.name) for env in ENVS for task in get_env(env).tasks]


def _load_reward(env, task_name):
    namespace = {}
    source = env.reference_reward_path(task_name).read_text()
    exec(compile(source, str(env.reference_reward_path(task_name)), "exec"), namespace)  # trusted human code
    return namespace["SCALES"], namespace["reward_terms"]


def _random_rollout(env, task_name, steps, seed=0, keep=()):
    """States after `steps` random-action control steps; with `keep`, the states after each of those steps too,
    stacked before the last (e.g. fresh and fallen states together)."""
    batch = NativeBatch(env, task_name, N, seed=seed, nthread=2)
    rng = np.random.default_rng(seed)
    kept_q, kept_v = [], []
    try:
        for t in range(1, steps + 1):
            batch.step(rng.uniform(-1.0, 1.0, (N, batch.model.nu)))
            if t in keep:
                kept_q.append(batch.raw().qpos.copy())
                kept_v.append(batch.raw().qvel.copy())
        raw = batch.raw()
        if keep:
            return batch.model, np.concatenate(kept_q + [raw.qpos]), np.concatenate(kept_v + [raw.qvel]), None
        return batch.model, raw.qpos.copy(), raw.qvel.copy(), batch.sensors()
    finally:
        batch.close()


def _assert_batch_array(name, value, batch_shape=(N,)):
    value = np.asarray(value)
    assert value.shape[: len(batch_shape)] == batch_shape, f"{name}: shape {value.shape}, batch {batch_shape}"
    assert np.all(np.isfinite(value)), f"{name} is not finite: {value}"


@pytest.mark.parametrize("env_name", ENVS)
def test_env_steps_and_views(env_name):
    env = get_env(env_name)
    model = mujoco.MjModel.from_xml_path(str(env.model_path))
    assert model.nu > 0 and env.frame_skip >= 1
    assert np.all(model.actuator_ctrlrange == np.array([-1.0, 1.0])), "every actuator's ctrlrange must be -1..1"
    assert model.opt.solver in (mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_CG), "MJX rejects PGS"
    assert model.vis.global_.offwidth >= 480 and model.vis.global_.offheight >= 480
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, env.camera) >= 0, f"no camera {env.camera!r}"
    assert "def state_view" in env.state_view_source
    task = env.tasks[0].name
    batch = NativeBatch(env, task, N, seed=1, nthread=2)
    try:
        raw = batch.raw()
        obs_dim = np.asarray(env.observation(raw.qpos, raw.qvel, batch.sensors(), np)).shape[-1]
        rng = np.random.default_rng(1)
        for _ in range(50):
            batch.step(rng.uniform(-1.0, 1.0, (N, model.nu)))
        raw = batch.raw()
        assert np.all(np.isfinite(raw.qpos)) and np.all(np.isfinite(raw.qvel)) and np.all(np.isfinite(raw.sensordata))
        view = env.state_view(raw.qpos, raw.qvel, batch.sensors(), np)
        assert view, "the state view is empty"
        for name, value in view.items():
            _assert_batch_array(name, value)
        obs = np.asarray(env.observation(raw.qpos, raw.qvel, batch.sensors(), np))
        assert obs.shape == (N, obs_dim)
        _assert_batch_array("observation", obs)
        # the view works on any leading batch shape: a single state, and a [2, N/2] batch
        single = env.state_view(raw.qpos[0], raw.qvel[0], split_sensors(raw.sensordata[0], batch.slices), np)
        for name, value in single.items():
            np.testing.assert_allclose(value, view[name][0], err_msg=name)
        nested = env.state_view(
            raw.qpos.reshape(2, N // 2, -1),
            raw.qvel.reshape(2, N // 2, -1),
            split_sensors(raw.sensordata.reshape(2, N // 2, -1), batch.slices),
            np,
        )
        for name, value in nested.items():
            assert np.asarray(value).shape[:2] == (2, N // 2), name
    finally:
        batch.close()


@pytest.mark.parametrize("env_name,task_name", ENV_TASKS)
def test_task_fitness_terminate_reward(env_name, task_name):
    env = get_env(env_name)
    task = env.task(task_name)
    assert task.description and task.episode_steps > 0 and task.train_steps > 0
    assert task.fitness is not None and task.fitness_doc and task.success_threshold is not None
    model, qpos, qvel, sensor = _random_rollout(env, task_name, 10, seed=2)
    view = env.state_view(qpos, qvel, sensor, np)
    _assert_batch_array("fitness", task.fitness(view, np))
    assert np.asarray(task.fitness(view, np)).shape == (N,)
    if task.terminate is not None:
        done = np.asarray(task.terminate(view, np))
        assert done.shape == (N,) and done.dtype == bool
    scales, reward_terms = _load_reward(env, task_name)
    action = np.random.default_rng(2).uniform(-1.0, 1.0, (N, model.nu))
    terms = reward_terms(view, action, np)
    assert set(terms) == set(scales), f"terms {sorted(terms)} != SCALES {sorted(scales)}"
    for name, value in terms.items():
        value = np.asarray(value)
        assert value.shape == (N,), f"term {name}: shape {value.shape}"
        assert np.issubdtype(value.dtype, np.floating), f"term {name}: dtype {value.dtype}"
        _assert_batch_array(name, value)
    assert all(isinstance(v, float) for v in scales.values())


def _native_forward(model, qpos, qvel):
    """Sensors of each state from a fresh native mj_forward (zero control, zero warm start)."""
    slices = sensor_slices(model)
    data = mujoco.MjData(model)
    out = np.zeros((len(qpos), model.nsensordata))
    for i in range(len(qpos)):
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
        mujoco.mj_forward(model, data)
        out[i] = data.sensordata
    return split_sensors(out, slices)


def _agreement(env_name):
    import jax
    import jax.numpy as jnp
    from mujoco import mjx

    env = get_env(env_name)
    task = env.tasks[0]
    model, qpos, qvel, _ = _random_rollout(env, task.name, 60, seed=3, keep=(10,))  # standing and fallen states
    n = len(qpos)
    native = env.state_view(qpos, qvel, _native_forward(model, qpos, qvel), np)
    slices = sensor_slices(model)
    mx = mjx.put_model(model)
    reward_fns = {t.name: _load_reward(env, t.name)[1] for t in env.tasks}

    @jax.jit
    def views(qpos, qvel):
        def one(q, v):
            d = mjx.forward(mx, mjx.make_data(mx).replace(qpos=q, qvel=v))
            return split_sensors(d.sensordata, slices)

        sensor = jax.vmap(one)(qpos, qvel)
        view = env.state_view(qpos, qvel, sensor, jnp)
        per_state = jax.vmap(lambda q, v, s: env.state_view(q, v, s, jnp))(qpos, qvel, sensor)  # vmap-safe too
        extra = {"observation": env.observation(qpos, qvel, sensor, jnp)}
        extra.update({f"vmap_minus_batched/{k}": per_state[k] - view[k] for k in view})
        action = jnp.zeros((qpos.shape[0], model.nu))
        for t in env.tasks:  # every task function traces under jit with jax.numpy
            extra[f"{t.name}/fitness"] = t.fitness(view, jnp)
            if t.terminate is not None:
                extra[f"{t.name}/terminate"] = t.terminate(view, jnp)
            for k, value in reward_fns[t.name](view, action, jnp).items():
                extra[f"{t.name}/reward/{k}"] = value
        return view, extra

    args = jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32)
    # XLA's backend optimizations cost more compile time than they save on one call: the check compiles ~35% faster
    mjx_view, extra = views.lower(*args).compile({"xla_backend_optimization_level": 0})(*args)
    assert set(mjx_view) == set(native)
    for name in native:
        np.testing.assert_allclose(
            np.asarray(mjx_view[name]), native[name], rtol=1e-3, atol=2e-3, err_msg=f"{env_name}: {name}"
        )
    for name, value in extra.items():
        assert np.asarray(value).shape[0] == n and np.all(np.isfinite(np.asarray(value))), name
        if name.startswith("vmap_minus_batched/"):
            assert np.allclose(np.asarray(value), 0.0, atol=1e-5), name
    contact_flags = [name for name in native if name.endswith("on_floor")]
    if contact_flags:  # the compared states must include contacts, or the comparison proves little about them
        assert sum(np.asarray(native[name]).sum() for name in contact_flags) > 0, f"{env_name}: no contacts compared"


@pytest.mark.parametrize("env_name", ENVS)
def test_native_and_mjx_agree(env_name):
    _agreement(env_name)  # humanoid: ~10 s of MJX trace + compile on 2 CPU cores


humanoid_only = pytest.mark.skipif("humanoid" not in ENVS, reason="no humanoid env")


@humanoid_only
def test_humanoid_body_collides_with_floor_and_legs_with_each_other():
    model = mujoco.MjModel.from_xml_path(str(get_env("humanoid").model_path))
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or "" for g in range(model.ngeom)]
    floor = names.index("floor")

    def collides(a, b):
        return bool(model.geom_contype[a] & model.geom_conaffinity[b]) or bool(
            model.geom_contype[b] & model.geom_conaffinity[a]
        )

    for g, name in enumerate(names):
        if g != floor:  # every body part can rest on the floor (VLM-RM poses: kneel, sit, lie down, splits, ...)
            assert collides(g, floor), f"humanoid geom {name!r} does not collide with the floor"
    for part in ("knee", "shin", "hand", "foot", "thigh"):
        assert sum(part in n for n in names) >= 2, f"expected left and right {part} geoms, found {names}"
    assert "pelvis" in names
    def leg(side):
        return [g for g, n in enumerate(names) if n.startswith(side) and any(p in n for p in ("thigh", "shin", "foot"))]

    left, right = leg("left_"), leg("right_")
    assert left and right and all(collides(a, b) for a in left for b in right), "legs must not pass through each other"


@humanoid_only
def test_humanoid_joint_order_matches_the_view():
    env = get_env("humanoid")
    model = mujoco.MjModel.from_xml_path(str(env.model_path))
    joints = tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(1, model.njnt))
    actuated = tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in model.actuator_trnid[:, 0])
    assert joints == actuated == sys.modules[env.state_view.__module__].JOINTS


@humanoid_only
def test_humanoid_starts_standing_and_falls_without_control():
    env = get_env("humanoid")
    batch = NativeBatch(env, "kneel", 4, seed=4, nthread=2)
    try:
        s = env.state_view(batch.raw().qpos, batch.raw().qvel, batch.sensors(), np)
        assert np.all(s["head_pos"][:, 2] > 1.4) and np.all(s["torso_up"] > 0.99)
        for _ in range(4):  # 0.1 s: the feet settle onto the floor
            batch.step(np.zeros((4, batch.model.nu)))
        s = env.state_view(batch.raw().qpos, batch.raw().qvel, batch.sensors(), np)
        assert np.all(s["left_foot_on_floor"] == 1.0) and np.all(s["right_foot_on_floor"] == 1.0)
        assert np.all(s["head_pos"][:, 2] > 1.4)
        low_contacts = 0.0
        for _ in range(100):  # 2.5 s with zero torque: the humanoid collapses onto the floor
            batch.step(np.zeros((4, batch.model.nu)))
            s = env.state_view(batch.raw().qpos, batch.raw().qvel, batch.sensors(), np)
            assert np.all(np.isfinite(batch.raw().qvel)) and np.abs(batch.raw().qvel).max() < 100
            low_contacts += sum(s[k].sum() for k in ("left_knee_on_floor", "right_knee_on_floor", "pelvis_on_floor",
                                                     "left_hand_on_floor", "right_hand_on_floor"))
        assert np.all(s["head_pos"][:, 2] < 1.0) and low_contacts > 0
    finally:
        batch.close()
