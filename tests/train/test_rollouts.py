"""The evaluation's trace (train/rollouts.py): every episode's states from its start to its own last alive step,
as long as the Evaluation says it ran; a hopper under random actions falls, each episode at its own step."""

from __future__ import annotations

import numpy as np

from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.train.rollouts import evaluate


class Flailing:
    """Random actions from a seeded generator: a hopper falls within a few dozen steps."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, action_dim: int) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (*obs.shape[:-1], action_dim))


def test_every_episode_is_traced_to_its_own_end():
    env = get_env("hopper")
    task = env.task("hop")
    reward = load_reward(env.reference_reward_path("hop").read_text())
    evaluation, trace = evaluate(env, task, reward, Flailing(0), episodes=4, seed=3)
    lengths = trace["lengths"].tolist()
    assert lengths == list(evaluation.episode_lengths)
    assert max(lengths) < task.episode_steps and len(set(lengths)) > 1  # they fell, each at its own step
    qpos = trace["qpos"]
    assert qpos.shape[:2] == (4, 1 + max(lengths)) and trace["dt"] > 0
    for episode, length in enumerate(lengths):
        assert np.abs(qpos[episode, length] - qpos[episode, 0]).max() > 0.01  # it moved
        assert (qpos[episode, length:] == qpos[episode, length]).all()  # and holds its last alive state after
    _, untraced = evaluate(env, task, reward, Flailing(0), episodes=4, seed=3, trace=False)
    assert untraced == {}
