"""The program's own terminate in the JAX trainers (evolve --evolve-termination): the population trainer ORs each
member's terminate into its training episodes only (counted in its curve; the batched evaluation keeps the task's
episodes), and Brax PPO on MJX ends its episodes there too. Slow: each compiles MJX on the CPU (~1 min each on 2
busy cores); run with `pytest -m slow tests/train/test_terminate_jax.py`."""

from __future__ import annotations

import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.program.terminate import LEARNED_TERMINATION

REWARD = get_env("cartpole").reference_reward_path("balance").read_text()
RIGHT = REWARD + "\n\ndef terminate(s, xp):\n    return s['cart_x'] > 0.2\n"
ALWAYS = REWARD + "\n\ndef terminate(s, xp):\n    return s['cart_x'] > -100.0\n"  # loaded without the check


@pytest.mark.slow
def test_population_members_end_training_episodes_by_their_own_terminate_only():
    from rewardsmith.train.population import Member
    from rewardsmith.train.population_train import train_population

    env = get_env("cartpole")
    cfg = train_config_for(env.ppo, steps=8192, seed=0, checkpoints=2)
    members = [Member(key, load_reward(source), 0) for key, source in
               (("plain", REWARD), ("right", RIGHT), ("always", ALWAYS))]
    results = {r.key: r for r in train_population(env, env.task("balance"), members, cfg)}
    plain, right, always = (results[k].outcome.curve for k in ("plain", "right", "always"))
    assert all(LEARNED_TERMINATION not in p.extra for p in plain)
    assert all(0.0 < p.extra[LEARNED_TERMINATION] <= 1.0 for p in right), [p.extra for p in right]
    assert right[0].episodes > plain[0].episodes and right[0].episode_length < plain[0].episode_length
    assert all(p.episode_length == 1.0 for p in always)  # every training episode ended at its first step
    assert results["always"].evaluation.episode_length_mean > 1.0  # ... but not the evaluation's


@pytest.mark.slow
def test_mjx_training_episodes_end_by_the_programs_terminate():
    from rewardsmith.train.mjx import train_mjx

    env = get_env("cartpole")
    cfg = train_config_for(env.ppo, steps=4096, checkpoints=1, seed=0)
    curve = train_mjx(env, env.task("balance"), load_reward(ALWAYS), cfg).curve
    # Brax's curve comes from its own evaluation episodes, run in the training env: each ends at its first step
    assert curve[-1].extra[LEARNED_TERMINATION] == 1.0 and curve[-1].episode_length == 1.0, curve[-1]
