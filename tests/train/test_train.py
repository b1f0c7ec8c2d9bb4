"""The trainers learn: a short native PPO training on cart-pole balance, a reward that returns NaN stops training
with a reason naming the term, GAE on a hand-computed rollout, and Brax PPO on MJX on cart-pole.

The MJX test is the slowest of the default suite: on 2 CPU cores Brax compiles the MJX step for training and
for evaluation, ~60 s before learning starts; the whole test took 63-78 s."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.train.policy import TrainingStopped
from rewardsmith.train.ppo import gae, params_finite

NAN_REWARD = '''
SCALES = {"upright": 1.0, "broken": 0.5}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"], "broken": xp.log(s["cart_x"] - 100.0)}  # log of a negative number: NaN
'''


def _cartpole(task="balance"):
    env = get_env("cartpole")
    return env, env.task(task), load_reward(env.reference_reward_path(task).read_text())


def test_native_trainer_learns_cartpole_balance():
    from rewardsmith.train.native import train_native

    env, task, reward = _cartpole()
    cfg = train_config_for(env.ppo, steps=49_152, checkpoints=4, seed=1)
    points = []
    outcome = train_native(env, task, reward, cfg, lambda step, metrics: points.append(metrics))
    first, last = outcome.curve[0], outcome.curve[-1]
    assert points == outcome.curve and len(outcome.curve) == 4
    assert outcome.steps == 49_152 and last.step == outcome.steps
    assert last.episode_return > 2.0 * first.episode_return, [p.episode_return for p in outcome.curve]
    assert last.fitness > first.fitness + 0.2, [p.fitness for p in outcome.curve]
    assert params_finite(outcome.policy.params)
    assert np.all(np.isfinite(outcome.policy.obs_mean)) and np.all(outcome.policy.obs_var > 0)
    assert set(last.terms) == set(reward.scales) and all(np.isfinite(v) for v in last.terms.values())
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl"):
        assert np.isfinite(last.losses[key]), key


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_reward_stops_training_naming_the_term():
    from rewardsmith.train.native import train_native

    env, task, _ = _cartpole()
    reward = load_reward(NAN_REWARD)
    cfg = train_config_for(env.ppo, steps=4096, checkpoints=1)
    with pytest.raises(TrainingStopped, match=r"reward term 'broken' returned NaN/Inf in 64 of 64 envs at step 64"):
        train_native(env, task, reward, cfg)


def test_gae_matches_a_hand_computed_rollout():
    """Two envs, three steps, gamma 0.5, lambda 0.5.
    env 0: a time-limit truncation after step 0 (bootstrap from its final state's value 10, but no advantage flows
    back across the reset), then a termination at step 2 (no bootstrap).
    env 1: no episode end; the last step bootstraps from next_values."""
    gamma, lam = 0.5, 0.5
    rewards = np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 2.0]], np.float32)
    values = np.array([[4.0, 2.0], [1.0, 2.0], [2.0, 4.0]], np.float32)
    next_values = np.array([[10.0, 2.0], [2.0, 4.0], [99.0, 8.0]], np.float32)  # 99: ignored (terminated)
    terminated = np.array([[0, 0], [0, 0], [1, 0]], np.float32)
    ends = np.array([[1, 0], [0, 0], [1, 0]], np.float32)
    adv, returns = gae(rewards, values, next_values, terminated, ends, gamma, lam)
    # env 0: t2: delta = 3 - 2 = 1 -> A = 1; t1: delta = 2 + 0.5*2 - 1 = 2 -> A = 2 + 0.25*1 = 2.25;
    #        t0: delta = 1 + 0.5*10 - 4 = 2, the episode ended -> A = 2
    # env 1: t2: delta = 2 + 0.5*8 - 4 = 2 -> A = 2; t1: delta = 0 + 0.5*4 - 2 = 0 -> A = 0.25*2 = 0.5;
    #        t0: delta = 1 + 0.5*2 - 2 = 0 -> A = 0.25*0.5 = 0.125
    expected = np.array([[2.0, 0.125], [2.25, 0.5], [1.0, 2.0]])
    np.testing.assert_allclose(adv, expected, rtol=1e-6)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-6)


def test_native_next_values_use_values_of_the_next_step():
    """The trainer takes V(s_{t+1}) from values[t+1] except where an episode was truncated or at the last step:
    the advantages it computes this way equal those from a full V(next_obs) evaluation at every step."""
    from rewardsmith.train import native

    env, task, reward = _cartpole()
    task = dataclasses.replace(task, episode_steps=5, terminate=None)  # truncations inside every rollout
    cfg = train_config_for(env.ppo, steps=2 * 64 * 32, checkpoints=1, num_envs=8, rollout_steps=12)
    captured = []
    original = native.gae

    def spy(rewards, values, next_values, terminated, ends, gamma, lam):
        captured.append((values.copy(), next_values.copy(), ends.copy()))
        return original(rewards, values, next_values, terminated, ends, gamma, lam)

    native.gae = spy
    try:
        native.train_native(env, task, reward, cfg)
    finally:
        native.gae = original
    for values, next_values, ends in captured:
        inside = ends[:-1] == 0  # no reset between t and t+1: V(s_{t+1}) is the next row's value
        np.testing.assert_array_equal(next_values[:-1][inside], values[1:][inside])
        assert np.all(next_values[:-1][~inside] != 0.0)  # truncated: its own bootstrap value was computed
        assert np.all(next_values[-1] != 0.0)


@pytest.mark.slow  # ~110 s of XLA compiling on 2 CPU cores; the GPU check runs this trainer where it belongs
def test_mjx_trainer_learns_cartpole_balance():
    """Brax PPO on MJX, on the CPU: tiny batches (the env's PPO_MJX settings are GPU-sized); the evaluation
    return after training must clearly exceed the one before it."""
    from rewardsmith.train.mjx import train_mjx

    env, task, reward = _cartpole()
    env = dataclasses.replace(env, ppo_mjx={"num_envs": 256, "batch_size": 256, "unroll_length": 16,
                                            "num_minibatches": 4, "num_updates_per_batch": 8, "learning_rate": 1e-3,
                                            "entropy_cost": 1e-3, "reward_scaling": 0.1, "discounting": 0.97})
    cfg = train_config_for(env.ppo, steps=131_072, checkpoints=4, eval_episodes=16)
    points = []
    outcome = train_mjx(env, task, reward, cfg, lambda step, metrics: points.append(metrics))
    returns = [p.episode_return for p in points]  # deterministic evaluation returns; the first is at step 0
    assert points[0].step == 0 and points[-1].step >= 98_304, [p.step for p in points]
    assert returns[-1] > 3.0 * returns[0], returns  # measured: 66 before training, 556-566 after 98k-131k steps
    assert params_finite(outcome.policy.params)


def test_mjx_env_ends_a_diverged_episode_with_nothing_paid():
    """A float32 blow-up (non-finite qvel) must end the episode with reward 0 and a finite observation, so that one
    diverged env cannot turn the whole batch's returns into NaN (what stopped a 30M-step humanoid run on the GPU)."""
    import jax
    import jax.numpy as jnp

    from rewardsmith.train.mjx import make_env

    env, task, reward = _cartpole()
    mjx_env = make_env(env, task, reward, seed=0)
    state = mjx_env.reset(jax.random.PRNGKey(0))
    step = jax.jit(mjx_env.step)
    healthy = step(state, jnp.zeros(mjx_env.action_size))
    broken = state.replace(pipeline_state=state.pipeline_state.replace(
        qvel=state.pipeline_state.qvel.at[0].set(jnp.nan)))
    diverged = step(broken, jnp.zeros(mjx_env.action_size))
    assert float(healthy.done) == 0.0 and float(healthy.reward) != 0.0 and float(healthy.metrics["diverged"]) == 0.0
    assert float(diverged.done) == 1.0 and float(diverged.reward) == 0.0 and float(diverged.metrics["diverged"]) == 1.0
    assert np.all(np.isfinite(np.asarray(diverged.obs)))


def test_a_native_training_continues_from_its_checkpoint(tmp_path):
    """What successive halving needs: train a while, save policy, value function, optimizer and normalizer state;
    later continue the same training to a larger budget."""
    from rewardsmith.train.native import train_native

    env, task, reward = _cartpole()
    path = tmp_path / "checkpoint.npz"
    short = train_config_for(env.ppo, steps=4 * 64 * 32, checkpoints=2, seed=3)
    first = train_native(env, task, reward, short, checkpoint=path)
    assert path.is_file() and first.steps == 4 * 64 * 32 and len(first.curve) == 2
    saved_at = path.stat().st_mtime_ns

    longer = dataclasses.replace(short, steps=8 * 64 * 32, checkpoints=4)
    continued = train_native(env, task, reward, longer, checkpoint=path)
    # the first call's statistics are kept and the new ones follow; the steps count both calls
    assert continued.steps == 8 * 64 * 32
    assert [p.step for p in continued.curve[:2]] == [p.step for p in first.curve]
    assert [p.step for p in continued.curve[2:]] == [6 * 64 * 32, 8 * 64 * 32]
    assert path.stat().st_mtime_ns != saved_at  # saved again at the end
    # it went on from the saved parameters and normalizer: not a fresh training, not the old policy
    fresh = train_native(env, task, reward, dataclasses.replace(longer, steps=4 * 64 * 32))
    assert not np.allclose(continued.policy.obs_mean, first.policy.obs_mean)
    assert not np.allclose(continued.policy.params["policy"][0]["w"], fresh.policy.params["policy"][0]["w"])

    # asking for no more than was trained changes nothing
    again = train_native(env, task, reward, longer, checkpoint=path)
    np.testing.assert_array_equal(again.policy.params["policy"][0]["w"], continued.policy.params["policy"][0]["w"])
    np.testing.assert_array_equal(again.policy.obs_var, continued.policy.obs_var)


def test_a_checkpoint_of_other_network_settings_is_refused(tmp_path):
    from rewardsmith.train.native import train_native

    env, task, reward = _cartpole()
    path = tmp_path / "checkpoint.npz"
    cfg = train_config_for(env.ppo, steps=64 * 32, checkpoints=1)
    train_native(env, task, reward, cfg, checkpoint=path)
    wider = dataclasses.replace(cfg, steps=2 * 64 * 32, hidden=(32, 32, 32))
    with pytest.raises(TrainingStopped, match="made with other network settings"):
        train_native(env, task, reward, wider, checkpoint=path)
