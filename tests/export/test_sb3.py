"""Stable-Baselines3 PPO, unchanged, learns cart-pole balance from an exported gymnasium reward."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_file, make_store

from rewardsmith.exports import export_reward


def _mean_return(model, env, episodes: int = 5) -> tuple[float, float]:
    """Mean episode return (exported reward) and mean task score of the deterministic policy."""
    returns, scores = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=100 + ep)
        done, total, fitness, steps = False, 0.0, 0.0, 0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total, fitness, steps = total + reward, fitness + info["fitness"], steps + 1
            done = terminated or truncated
        returns.append(total)
        scores.append(fitness / env.unwrapped.task.episode_steps)
    return float(np.mean(returns)), float(np.mean(scores))


@pytest.mark.slow
def test_sb3_ppo_learns_cartpole_balance_from_an_exported_reward(tmp_path):
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env

    import rewardsmith.env.gym_env  # noqa: F401

    store = make_store(tmp_path, "cartpole", "balance")
    path = export_reward(store, "g0c00", tmp_path / "balance_reward.py", fmt="gymnasium")
    module = import_file(path, "balance_reward")
    env = module.ExportedReward(gymnasium.make("rewardsmith/cartpole-balance-v0"))
    check_env(env)
    model = PPO("MlpPolicy", env, seed=0, n_steps=1024, batch_size=64, learning_rate=1e-3, device="cpu", verbose=0)
    before, score_before = _mean_return(model, env)
    model.learn(30_000)
    after, score_after = _mean_return(model, env)
    print(f"SB3 PPO cartpole balance, exported reward: return {before:.1f} -> {after:.1f}, "
          f"task score {score_before:.3f} -> {score_after:.3f}")
    assert after > 2 * before and score_after > 0.8
