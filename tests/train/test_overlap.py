"""The native trainer with its PPO update overlapped with the next rollout (TrainConfig.overlap_update: acting one
update behind): it learns cart-pole balance, its bookkeeping gives the in-turn training bit for bit when a
checkpoint syncs every iteration, the NaN check and the time budget still stop it, a continued training (successive
halving's checkpoint file) picks up the newest parameters, and the success judge judges the policy it returns.
A few seconds each on 2 busy cores (the update compiles once per process)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.train import native
from rewardsmith.train.policy import TrainingStopped
from rewardsmith.train.ppo import params_finite
from rewardsmith.train.rollouts import evaluate

ITERATION = 64 * 32  # cart-pole's batch: 64 envs x 32 steps


def _cartpole():
    env = get_env("cartpole")
    return env, env.task("balance"), load_reward(env.reference_reward_path("balance").read_text())


def _cfg(env, **overrides):
    return train_config_for(env.ppo, **{"overlap_update": True, **overrides})


def test_the_overlapped_trainer_learns_cartpole_balance():
    env, task, reward = _cartpole()
    outcome = native.train_native(env, task, reward, _cfg(env, steps=32 * ITERATION, checkpoints=4, seed=1))
    first, last = outcome.curve[0], outcome.curve[-1]
    assert outcome.steps == 32 * ITERATION and [p.step for p in outcome.curve] == [8 * ITERATION * i for i in
                                                                                 (1, 2, 3, 4)]
    assert last.episode_return > 2.0 * first.episode_return, [p.episode_return for p in outcome.curve]
    assert last.fitness > first.fitness + 0.2, [p.fitness for p in outcome.curve]
    assert params_finite(outcome.policy.params) and np.all(outcome.policy.obs_var > 0)
    assert all(np.isfinite(last.losses[k]) for k in ("policy_loss", "value_loss", "entropy", "approx_kl"))


def test_with_a_checkpoint_every_iteration_the_overlap_is_the_in_turn_training():
    """A checkpoint fetches the update in flight, so with one after every iteration nothing is ever in flight during
    a rollout: the double buffers and the normalizer that advances with the parameters must then give exactly the
    in-turn training. Without those checkpoints the overlap acts one update behind and trains another policy."""
    env, task, reward = _cartpole()
    base = _cfg(env, steps=6 * ITERATION, seed=1)
    runs = {(overlap, checkpoints): native.train_native(
        env, task, reward, dataclasses.replace(base, overlap_update=overlap, checkpoints=checkpoints))
        for overlap, checkpoints in ((False, 6), (True, 6), (True, 1))}
    in_turn, synced, lagged = runs[(False, 6)], runs[(True, 6)], runs[(True, 1)]
    same = jax.tree_util.tree_map(np.array_equal, in_turn.policy.params, synced.policy.params)
    assert all(jax.tree_util.tree_leaves(same))
    np.testing.assert_array_equal(in_turn.policy.obs_mean, synced.policy.obs_mean)
    np.testing.assert_array_equal(in_turn.policy.obs_var, synced.policy.obs_var)
    strip = [dataclasses.replace(p, wall_s=0.0) for p in in_turn.curve]
    assert strip == [dataclasses.replace(p, wall_s=0.0) for p in synced.curve]
    assert not np.array_equal(lagged.policy.params["policy"][0]["w"], in_turn.policy.params["policy"][0]["w"])


@pytest.mark.parametrize("overlap", [False, True])
def test_non_finite_parameters_stop_the_training_before_they_act(monkeypatch, overlap):
    """The second update returns NaN parameters: the training stops naming that update's step, with or without the
    overlap, and no rollout ever acts with them (with the overlap the stop comes after the next rollout, which
    acted with the first update's parameters)."""
    env, task, reward = _cartpole()
    real = native.make_update
    calls = []

    def poisoned(cfg):
        optimizer, update = real(cfg)

        def update_then_poison(params, opt_state, data, key):
            params, opt_state, losses = update(params, opt_state, data, key)
            calls.append(1)
            if len(calls) == 2:
                params = jax.tree_util.tree_map(lambda a: a * np.float32("nan"), params)
            return params, opt_state, losses
        return optimizer, update_then_poison

    acted_with = []
    real_mlp = native.mlp

    def spying_mlp(layers, x, xp):
        acted_with.append(all(np.all(np.isfinite(layer["w"])) for layer in layers))
        return real_mlp(layers, x, xp)

    monkeypatch.setattr(native, "make_update", poisoned)
    monkeypatch.setattr(native, "mlp", spying_mlp)
    cfg = _cfg(env, steps=5 * ITERATION, checkpoints=1, overlap_update=overlap)
    with pytest.raises(TrainingStopped, match=rf"policy parameters became NaN/Inf at step {2 * ITERATION} "):
        native.train_native(env, task, reward, cfg)
    assert len(calls) == 2  # with the overlap, the stop came after rollout 3 and before its update
    assert acted_with and all(acted_with)


def test_the_time_budget_stops_an_overlapped_training():
    env, task, reward = _cartpole()
    with pytest.raises(TrainingStopped, match=rf"exceeded its time budget of 0 s at step {ITERATION}$"):
        native.train_native(env, task, reward, _cfg(env, steps=4 * ITERATION, checkpoints=1, time_budget_s=0.0))


def test_an_overlapped_training_continues_from_its_checkpoint(tmp_path):
    """Successive halving with the overlap: the saved state holds the last update's parameters (waited for), so a
    call that asks for no more steps returns exactly the policy the previous call returned."""
    env, task, reward = _cartpole()
    path = tmp_path / "checkpoint.npz"
    short = _cfg(env, steps=4 * ITERATION, checkpoints=1, seed=3)
    first = native.train_native(env, task, reward, short, checkpoint=path)
    assert first.steps == 4 * ITERATION and [p.step for p in first.curve] == [4 * ITERATION]

    again = native.train_native(env, task, reward, short, checkpoint=path)
    same = jax.tree_util.tree_map(np.array_equal, again.policy.params, first.policy.params)
    assert all(jax.tree_util.tree_leaves(same))
    np.testing.assert_array_equal(again.policy.obs_var, first.policy.obs_var)

    longer = dataclasses.replace(short, steps=8 * ITERATION, checkpoints=2)
    continued = native.train_native(env, task, reward, longer, checkpoint=path)
    assert continued.steps == 8 * ITERATION
    assert [p.step for p in continued.curve] == [4 * ITERATION, 8 * ITERATION]
    assert not np.array_equal(continued.policy.params["policy"][0]["w"], first.policy.params["policy"][0]["w"])
    assert not np.allclose(continued.policy.obs_mean, first.policy.obs_mean)
    # the continued call fetched its last update too: loading its state again changes nothing
    last = native.train_native(env, task, reward, longer, checkpoint=path)
    np.testing.assert_array_equal(last.policy.params["policy"][0]["w"], continued.policy.params["policy"][0]["w"])


def test_the_success_judge_sees_the_newest_parameters():
    """Stop at success with the overlap: the stop decision is the evaluation of the policy the training returns
    (the checkpoint fetched the update in flight before judging)."""
    env, task, reward = _cartpole()
    cfg = _cfg(env, steps=48 * ITERATION, checkpoints=12, seed=5, stop_at_success=True)
    outcome = native.train_native(env, task, reward, cfg)
    last = outcome.curve[-1]
    assert outcome.reached_success and outcome.steps < 48 * ITERATION, [p.extra for p in outcome.curve]
    again, _ = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes, native.STOP_EVAL_SEED + cfg.seed)
    assert again.success_rate == last.extra[native.EVAL_SUCCESS] >= cfg.stop_success_rate


def test_the_learning_benchmark_trains_both_variants_on_each_seed():
    """`python -m rewardsmith.bench learning` on a tiny budget: a line per seed and variant, then the medians."""
    from rewardsmith.bench.learning import Trained, describe, learning, summary

    lines: list[str] = []
    runs = learning("cartpole", "balance", seeds=1, first_seed=1, steps=4 * ITERATION, checkpoints=2,
                    time_budget_s=None, print_line=lines.append)
    assert [(r.variant, r.seed, r.steps, r.reached) for r in runs] == [("in turn", 1, 8192, False),
                                                                       ("overlapped", 1, 8192, False)]
    header, compiled, *per_run, median_in_turn, median_overlapped = lines
    assert "budget 8,192 env steps" in header and "compiled first" in compiled
    assert len(per_run) == 2 and all("not reached within 8,192" in line for line in per_run)
    assert all("4,096: 0.00/" in line and "8,192: 0.00/" in line for line in per_run), per_run
    assert "in turn" in median_in_turn and "> 8,192 (not reached)" in median_in_turn and "reached 0/1" in median_in_turn
    assert "overlapped" in median_overlapped and "> 8,192" in median_overlapped

    # a success, and the median over seeds where one did not reach it
    done = [Trained("overlapped", s, steps, reached, 10.0 * s, ()) for s, steps, reached in
            ((0, 40_960, True), (1, 8192, False), (2, 49_152, True))]
    assert "success at 40,960 steps" in describe(done[0], 65_536)
    (line,) = summary(done, 65_536)  # only the variant that trained
    assert "overlapped median steps to success" in line and "49,152" in line and "reached 2/3" in line
    assert "median wall    10.0 s" in line
