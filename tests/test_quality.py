"""Quality checks of the native CPU trainer with the reference rewards, at the tasks' own training budgets and the
envs' own PPO settings (what `rewardsmith train` and `rewardsmith evolve` use). Slow (minutes each):

    .venv/bin/python -m pytest -m slow tests/test_quality.py

Each test trains one seed, evaluates the deterministic policy on EVAL_EPISODES fresh episodes (the evaluation code
of the product, rewardsmith.evaluate) and checks the task's own success threshold, unchanged."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rewardsmith.config import train_config_for
from rewardsmith.envs import get_env
from rewardsmith.evaluate import evaluate
from rewardsmith.program import load_reward
from rewardsmith.train.native import train_native

pytestmark = pytest.mark.slow
EVAL_EPISODES = 64


def _train_and_evaluate(env_name: str, task_name: str, steps: int | None = None, seed: int = 0):
    env = get_env(env_name)
    task = env.task(task_name)
    reward = load_reward(env.reference_reward_path(task_name).read_text())  # trusted, human-written
    cfg = train_config_for(env.ppo, steps=steps or task.train_steps, seed=seed)
    start = time.monotonic()
    outcome = train_native(env, task, reward, cfg)
    evaluation, _ = evaluate(env, task, reward, outcome.policy, EVAL_EPISODES, seed=10_000 + seed)
    print(f"\n{env_name}/{task_name}: {outcome.steps:,} steps in {time.monotonic() - start:.0f} s; "
          f"fitness {evaluation.fitness_mean:.3f} ± {evaluation.fitness_std:.3f}, success {evaluation.success_rate:.2f}, "
          f"episode length {evaluation.episode_length_mean:.0f}")
    return env, task, outcome, evaluation


def test_humanoid_kneel_reaches_the_success_threshold():
    _, task, _, evaluation = _train_and_evaluate("humanoid", "kneel")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)


def test_hopper_hop_reaches_the_success_threshold():
    _, task, _, evaluation = _train_and_evaluate("hopper", "hop")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)


def test_ant_run_reaches_the_success_threshold():
    _, task, _, evaluation = _train_and_evaluate("ant", "run")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)
