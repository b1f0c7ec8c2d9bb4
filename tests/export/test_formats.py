"""Every export format, run: its values equal the numpy export's on sampled states."""

from __future__ import annotations

import types

import numpy as np
import pytest
from conftest import import_file, make_store, sampled_states

from rewardsmith.exports import FORMATS, export_reward


def _export(store, tmp_path, fmt):
    path = export_reward(store, "g0c00", tmp_path / f"reward_{fmt}_{store.root.name.replace('-', '_')}.py", fmt=fmt)
    return path, import_file(path, path.stem)


def test_every_export_names_its_origin_and_usage(case, tmp_path):
    env, task, store = case
    for fmt in FORMATS.names():
        path, _ = _export(store, tmp_path, fmt) if fmt != "isaaclab" else (
            export_reward(store, "g0c00", tmp_path / "il.py", fmt=fmt), None)
        doc = path.read_text().split('"""')[1]
        assert store.root.name in doc and "g0c00" in doc and f"env {env}" in doc and "Task score after training: 0.500" in doc
        assert "Usage" in doc
        assert "rewardsmith" not in "\n".join(line for line in path.read_text().splitlines() if line.startswith(("import", "from")))


def test_torch_export_equals_numpy(case, tmp_path):
    import torch
    env, task, store = case
    _, ref = _export(store, tmp_path, "numpy")
    _, mod = _export(store, tmp_path, "torch")
    _, _, s, action = sampled_states(env, task)
    total_np, terms_np = ref.reward(s, action, np)
    states = {k: torch.as_tensor(np.asarray(v)) for k, v in s.items()}
    total, terms = mod.compute_reward(states, torch.as_tensor(action))
    assert isinstance(total, torch.Tensor) and total.shape == (len(action),)
    np.testing.assert_allclose(total.numpy(), total_np, rtol=1e-9, atol=1e-9)
    assert set(terms) == set(terms_np)
    for k in terms:
        np.testing.assert_allclose(terms[k].numpy(), terms_np[k], rtol=1e-9, atol=1e-9)


def test_jax_export_equals_numpy_under_jit_on_mjx_data(tmp_path):
    import jax
    import jax.numpy as jnp
    import mujoco
    from mujoco import mjx

    from rewardsmith.env.registry import get_env
    from rewardsmith.env.sim import sensor_slices, split_sensors

    env_name, task = "humanoid", "kneel"
    store = make_store(tmp_path, env_name, task)
    _, ref = _export(store, tmp_path, "numpy")
    _, mod = _export(store, tmp_path, "jax")
    env = get_env(env_name)
    qpos, qvel, _, action = sampled_states(env_name, task, n=8)
    model = mujoco.MjModel.from_xml_path(str(env.model_path))
    slices = sensor_slices(model)
    sys_ = mjx.put_model(model)

    @jax.jit
    def reward_on_mjx(qpos, qvel, action):
        data = jax.vmap(lambda q, v: mjx.forward(sys_, mjx.make_data(sys_).replace(qpos=q, qvel=v)))(qpos, qvel)
        s = env.state_view(data.qpos, data.qvel, split_sensors(data.sensordata, slices), jnp)
        return mod.reward(s, action), data.sensordata

    (total, terms), sensordata = reward_on_mjx(jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32),
                                               jnp.asarray(action, jnp.float32))
    # the numpy reference on native MuJoCo's sensors of the same states
    data = mujoco.MjData(model)
    native = np.zeros((len(qpos), model.nsensordata))
    for i in range(len(qpos)):
        data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
        mujoco.mj_forward(model, data)
        native[i] = data.sensordata
    s = env.state_view(qpos, qvel, split_sensors(native, slices), np)
    total_np, terms_np = ref.reward(s, action, np)
    assert set(terms) == set(terms_np)
    np.testing.assert_allclose(np.asarray(total), total_np, rtol=2e-3, atol=2e-3)
    for k in terms:
        np.testing.assert_allclose(np.asarray(terms[k]), terms_np[k], rtol=2e-3, atol=2e-3, err_msg=k)
    dt = 0.025
    assert mod.playground_scales(dt) == {k: v / dt for k, v in mod.SCALES.items()}


def _isaaclab_stand_ins(monkeypatch):
    """Small stand-ins for isaaclab.managers.RewardTermCfg and isaaclab.utils.configclass."""
    from dataclasses import dataclass, field

    @dataclass
    class RewardTermCfg:
        func: object
        weight: float
        params: dict = field(default_factory=dict)

    @dataclass
    class TerminationTermCfg:
        func: object
        params: dict = field(default_factory=dict)

    def configclass(cls):
        return cls

    pkg = types.ModuleType("isaaclab")
    managers = types.ModuleType("isaaclab.managers")
    managers.RewardTermCfg = RewardTermCfg
    managers.TerminationTermCfg = TerminationTermCfg
    utils = types.ModuleType("isaaclab.utils")
    utils.configclass = configclass
    for name, module in (("isaaclab", pkg), ("isaaclab.managers", managers), ("isaaclab.utils", utils)):
        monkeypatch.setitem(__import__("sys").modules, name, module)
    return RewardTermCfg


def test_isaaclab_export_equals_numpy_through_the_adapter(case, tmp_path, monkeypatch):
    import torch
    term_cfg = _isaaclab_stand_ins(monkeypatch)
    env, task, store = case
    _, ref = _export(store, tmp_path, "numpy")
    _, mod = _export(store, tmp_path, "isaaclab")
    _, _, s, action = sampled_states(env, task)
    sim_env = types.SimpleNamespace(action_manager=types.SimpleNamespace(action=torch.as_tensor(action)))
    with pytest.raises(NotImplementedError, match="complete state_view"):
        mod.state_view(sim_env)
    # the user's completed adapter: here the state view's fields straight from the sampled states
    monkeypatch.setattr(mod, "state_view", lambda e: {k: torch.as_tensor(np.asarray(v)) for k, v in s.items()})
    cfg = mod.RewardsCfg()
    terms = {k: v for k, v in vars(type(cfg)).items() if isinstance(v, term_cfg)}
    assert set(terms) == set(mod.SCALES)
    # Isaac Lab's manager: sum of func(env) * weight * step_dt
    total = sum(t.func(sim_env, **t.params) * t.weight * mod.STEP_DT for t in terms.values())
    total_np, terms_np = ref.reward(s, action, np)
    np.testing.assert_allclose(total.numpy(), total_np, rtol=1e-9, atol=1e-9)
    for k, t in terms.items():
        np.testing.assert_allclose(t.func(sim_env).numpy(), terms_np[k], rtol=1e-9, atol=1e-9)
        assert t.weight == pytest.approx(mod.SCALES[k] / mod.STEP_DT)


def test_gymnasium_wrapper_replaces_the_reward_and_reports_terms(case, tmp_path):
    import gymnasium

    import rewardsmith.env.gym_env  # noqa: F401  (registers the envs)

    env_name, task, store = case
    _, ref = _export(store, tmp_path, "numpy")
    _, mod = _export(store, tmp_path, "gymnasium")
    env = mod.ExportedReward(gymnasium.make(f"rewardsmith/{env_name}-{task}-v0"))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-1.5, 1.5, env.action_space.shape)  # out of range: both clip to [-1, 1]
        _, reward, terminated, truncated, info = env.step(action)
        total_np, terms_np = ref.reward(env.unwrapped.state_view(), np.clip(action, -1, 1), np)
        assert reward == pytest.approx(float(total_np), rel=1e-12, abs=1e-12)
        assert info["reward_terms"] == pytest.approx({k: float(v) for k, v in terms_np.items()}, rel=1e-12)
        if terminated or truncated:
            env.reset()


@pytest.mark.slow
def test_torch_export_type_checks_with_mypy(tmp_path):
    """The exported torch module's IsaacGymEnvs-style hints (Dict[str, Tensor] -> Tuple[Tensor, Dict]) check (~20 s)."""
    import subprocess
    import sys

    store = make_store(tmp_path, "humanoid", "kneel")
    path = export_reward(store, "g0c00", tmp_path / "kneel_torch.py", fmt="torch")
    (tmp_path / "use_it.py").write_text(
        "import torch\nfrom kneel_torch import compute_reward\n\n\n"
        "def step(states: dict[str, torch.Tensor], actions: torch.Tensor) -> torch.Tensor:\n"
        "    total, terms = compute_reward(states, actions)\n    return total + sum(terms.values())\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-incremental",
                           path.name, "use_it.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torch_export_equals_numpy_for_every_reference_reward(tmp_path):
    """All reference rewards of all envs (the shim covers the xp calls they make), plus numpy-style scalar args."""
    import torch

    from rewardsmith.env.registry import env_names, get_env

    count = 0
    for env_name in env_names():
        for task in get_env(env_name).tasks:
            if not get_env(env_name).reference_reward_path(task.name).is_file():
                continue
            (tmp_path / f"{env_name}_{task.name}").mkdir()
            store = make_store(tmp_path / f"{env_name}_{task.name}", env_name, task.name)
            _, ref = _export(store, tmp_path, "numpy")
            _, mod = _export(store, tmp_path, "torch")
            _, _, s, action = sampled_states(env_name, task.name, n=8, steps=3)
            total_np, _ = ref.reward(s, action, np)
            total, _ = mod.compute_reward({k: torch.as_tensor(np.asarray(v)) for k, v in s.items()},
                                          torch.as_tensor(action))
            np.testing.assert_allclose(total.numpy(), total_np, rtol=1e-9, atol=1e-9, err_msg=f"{env_name}/{task.name}")
            count += 1
    assert count >= 20
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    xp = mod.torch_xp
    np.testing.assert_allclose(xp.maximum(x, 0.0).numpy(), np.maximum(x.numpy(), 0.0))
    np.testing.assert_allclose(xp.where(x > 0, x, 0.5).numpy(), np.where(x.numpy() > 0, x.numpy(), 0.5))
    np.testing.assert_allclose(xp.clip(x, -1, 1).numpy(), np.clip(x.numpy(), -1, 1))
    np.testing.assert_allclose(xp.sum(xp.stack([x, x], axis=-1), axis=-1, keepdims=True).numpy(),
                               np.sum(np.stack([x.numpy()] * 2, axis=-1), axis=-1, keepdims=True))


NUMPY_STYLE = '''"""An LLM-style program: .astype, Python-number arguments, keepdims, where."""
import math

SCALES = {"up": 1.0, "band": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    up = (s["pole_upright"] > 0.9).astype(xp.float32)  # a comment the rewrite drops
    band = xp.where(xp.abs(s["cart_x"]) < 0.5, 1.0, xp.maximum(1.0 - s["cart_x"] ** 2, 0.0))
    effort = xp.sum(xp.clip(action, -0.5, 0.5) ** 2, axis=-1, keepdims=True)[..., 0] * math.pi
    return {"up": up, "band": band, "effort": effort}
'''


def test_torch_export_runs_numpy_style_programs(tmp_path):
    import dataclasses

    import torch
    from builders import evaluated

    store = make_store(tmp_path, "cartpole", "balance")
    store.save_candidate(dataclasses.replace(evaluated(0, 1, 0.4), source=NUMPY_STYLE))
    ref_path = export_reward(store, "g0c01", tmp_path / "style_np.py")
    torch_path = export_reward(store, "g0c01", tmp_path / "style_torch.py", fmt="torch")
    ref, mod = import_file(ref_path, "style_np"), import_file(torch_path, "style_torch")
    _, _, s, action = sampled_states("cartpole", "balance", n=64, steps=40)
    total_np, terms_np = ref.reward(s, action, np)
    total, terms = mod.compute_reward({k: torch.as_tensor(np.asarray(v)) for k, v in s.items()}, torch.as_tensor(action))
    assert 0 < terms_np["up"].mean() < 1  # both branches of the comparisons are exercised
    np.testing.assert_allclose(total.numpy(), total_np, rtol=1e-6, atol=1e-6)
    for k in terms_np:
        np.testing.assert_allclose(terms[k].numpy(), terms_np[k], rtol=1e-6, atol=1e-6, err_msg=k)
