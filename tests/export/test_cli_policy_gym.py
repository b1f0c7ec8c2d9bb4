"""`rewardsmith export` on the command line (formats, bad input, --policy) and the gymnasium envs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import import_file, make_store, sampled_states

from rewardsmith.env.registry import get_env
from rewardsmith.exports import FORMATS
from rewardsmith.train.policy import Policy


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "export", *map(str, args)],
                          capture_output=True, text=True)


def test_bad_export_input_fails_in_one_line_and_writes_nothing(tmp_path):
    store = make_store(tmp_path, "cartpole", "balance")
    out = tmp_path / "r.py"
    proc = _cli(store.root, "--candidate", "g0c00", "--format", "onnx", "-o", out)
    assert proc.returncode == 2 and "unknown --format 'onnx'; valid: " + ", ".join(FORMATS.names()) in proc.stderr
    assert not out.exists()
    proc = _cli(store.root, "--candidate", "g3c09", "-o", out)
    assert proc.returncode != 0 and "g3c09" in proc.stderr and not out.exists()
    out.write_text("mine\n")
    proc = _cli(store.root, "--candidate", "g0c00", "--format", "torch", "-o", out)
    assert proc.returncode != 0 and "already exists; pass --force" in proc.stderr and out.read_text() == "mine\n"
    proc = _cli(store.root, "--candidate", "g0c00", "--format", "torch", "-o", out, "--force")
    assert proc.returncode == 0 and "def compute_reward" in out.read_text()
    proc = _cli(store.root, "--candidate", "g0c00", "--policy", "-o", tmp_path / "p.npz")
    assert proc.returncode != 0 and "has no trained policy" in proc.stderr and not (tmp_path / "p.npz").exists()
    assert not (tmp_path / "p.py").exists()


def test_exported_policy_acts_like_rewardsmiths_policy(tmp_path):
    store = make_store(tmp_path, "humanoid", "kneel")
    qpos, qvel, _, _ = sampled_states("humanoid", "kneel", n=32)
    env = get_env("humanoid")
    rng = np.random.default_rng(1)
    from rewardsmith.env.sim import NativeBatch
    sim = NativeBatch(env, "kneel", 32, 1, nthread=1)
    obs = np.asarray(env.observation(qpos, qvel, sim.sensors(), np))
    nu = sim.model.nu
    sim.close()
    sizes = [obs.shape[1], 16, 16, nu]
    layers = [{"w": rng.normal(0, 0.5, (a, b)).astype(np.float32), "b": rng.normal(0, 0.1, b).astype(np.float32)}
              for a, b in zip(sizes, sizes[1:], strict=False)]
    policy = Policy(params={"policy": layers, "value": layers[:1], "log_std": np.zeros(nu, np.float32)},
                    obs_mean=obs.mean(0), obs_var=obs.var(0) + 0.1, activation="tanh")
    store.work_dir(0, 0).mkdir(parents=True, exist_ok=True)
    policy.save(store.work_dir(0, 0) / "policy.npz")
    proc = _cli(store.root, "--candidate", "g0c00", "--policy", "-o", tmp_path / "kneel_policy.npz")
    assert proc.returncode == 0, proc.stderr
    module = import_file(tmp_path / "kneel_policy.py", "kneel_policy")
    assert "g0c00" in module.__doc__ and "numpy only" in module.__doc__
    act = module.load_policy()  # the .npz next to the module
    expected = policy.act(obs, nu)
    np.testing.assert_allclose(act(obs), expected, rtol=1e-6, atol=1e-6)
    assert np.abs(expected).max() > 0.1  # not a trivially zero policy


def test_check_env_passes_for_every_registered_env():
    import gymnasium
    from stable_baselines3.common.env_checker import check_env

    from rewardsmith.env.gym_env import register_envs
    ids = register_envs()
    expected = {f"rewardsmith/{e}-{t.name}-v0" for e in ("ant", "cartpole", "half_cheetah", "hopper", "humanoid",
                                                         "pendulum", "reacher", "walker2d") for t in get_env(e).tasks}
    assert set(ids) == expected
    for gid in ids:
        env = gymnasium.make(gid)
        check_env(env.unwrapped)
        env.reset(seed=1)
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and set(info["reward_terms"]) and "state_view" in info
        assert ("fitness" in info) == (env.unwrapped.task.fitness is not None)
        env.close()


def test_gym_env_matches_the_trainers_episode_rules():
    import gymnasium

    import rewardsmith.env.gym_env  # noqa: F401

    env = gymnasium.make("rewardsmith/cartpole-balance-v0")
    env.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:  # pushing one way: the cart leaves the rail or the pole falls -> terminated, not truncated
        _, _, terminated, truncated, info = env.step(np.ones(1))
        steps += 1
        assert not truncated
    s = info["state_view"]
    assert s["pole_upright"] < 0.7 or abs(s["cart_x"]) > 1.8
    env = gymnasium.make("rewardsmith/cartpole-swingup-v0")  # no termination: truncated at episode_steps
    env.reset(seed=0)
    for t in range(1, 501):
        _, _, terminated, truncated, _ = env.step(np.zeros(1))
        assert not terminated and truncated == (t == 500)


def test_gym_make_takes_a_reward_file(tmp_path):
    import gymnasium

    import rewardsmith.env.gym_env  # noqa: F401
    from rewardsmith.exports import export_reward

    store = make_store(tmp_path, "humanoid", "kneel")
    path = export_reward(store, "g0c00", tmp_path / "kneel_np.py")
    ref = import_file(path, "kneel_np")
    env = gymnasium.make("rewardsmith/humanoid-kneel-v0", reward=str(path))
    env.reset(seed=4)
    for _ in range(5):
        action = env.action_space.sample()
        _, reward, _, _, info = env.step(action)
        total, terms = ref.reward(info["state_view"], action.astype(np.float64), np)
        assert reward == pytest.approx(float(total)) and set(info["reward_terms"]) == set(terms)
    with pytest.raises(ValueError, match="is not a reward module"):
        (tmp_path / "nothing.py").write_text("X = 1\n")
        gymnasium.make("rewardsmith/humanoid-kneel-v0", reward=str(tmp_path / "nothing.py"))
