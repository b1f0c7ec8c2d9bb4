"""Quality checks of the native CPU trainer with the reference rewards, at the tasks' own training budgets and the
envs' own PPO settings (what `rewardsmith train` and `rewardsmith evolve` use). Slow (minutes each):

    .venv/bin/python -m pytest -m slow tests/train/test_trainer_quality.py

Each test trains one seed (seed 1: the settings were tuned on seed 0), evaluates the deterministic policy on
EVAL_EPISODES fresh episodes (the evaluation code of the product, rewardsmith.train.rollouts) and checks the task's own
success threshold, unchanged. Measured on 2 shared cores (see each test for its numbers)."""

from __future__ import annotations

import time

import pytest

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED
from rewardsmith.train.native import train_native
from rewardsmith.train.rollouts import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # the kneel training alone takes ~18 min
EVAL_EPISODES = 64


def _train_and_evaluate(env_name: str, task_name: str, steps: int | None = None, seed: int = 1):
    env = get_env(env_name)
    task = env.task(task_name)
    reward = load_reward(env.reference_reward_path(task_name).read_text())  # trusted, human-written
    cfg = train_config_for(env.ppo, steps=steps or task.train_steps, seed=seed)
    start = time.monotonic()
    outcome = train_native(env, task, reward, cfg)
    evaluation, _ = evaluate(env, task, reward, outcome.policy, EVAL_EPISODES, seed=EVAL_SEED + seed)
    print(f"\n{env_name}/{task_name}: {outcome.steps:,} steps in {time.monotonic() - start:.0f} s; "
          f"fitness {evaluation.fitness_mean:.3f} ± {evaluation.fitness_std:.3f}, success {evaluation.success_rate:.2f}, "
          f"episode length {evaluation.episode_length_mean:.0f}")
    return env, task, outcome, evaluation


def test_humanoid_kneel_reaches_the_success_threshold():
    """10M steps (the task's budget). Seed 1 with the former PPO settings (128x128 network, 8 minibatches):
    success 1.00, fitness 0.93, 17 min on 2 cores; the fitness of the (noisy) training episodes rises from 0.07 at 3M
    steps to 0.71 at 5M and 0.90 at 8M, while the deterministic policy already succeeds at 3.5M (scripts/tune_ppo.py;
    the current settings: 1.5M). Before the task ended episodes whose torso
    toppled, the same seed slumped forward onto its hands with its knees down: success 0.00, fitness 0.22."""
    _, task, _, evaluation = _train_and_evaluate("humanoid", "kneel")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)


def test_hopper_hop_reaches_the_success_threshold():
    """5M steps (the task's budget). Seeds 0 and 1 after 3M steps: 2.5 and 2.4 m/s, success 1.00, ~110 s."""
    _, task, _, evaluation = _train_and_evaluate("hopper", "hop")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)


def test_ant_run_reaches_the_success_threshold():
    """8M steps (the task's budget). Seed 0 after 5M steps: 5.1 m/s, success 0.97, 5 min."""
    _, task, _, evaluation = _train_and_evaluate("ant", "run")
    assert evaluation.success_rate >= 0.8, (task.success_threshold, evaluation)


def test_humanoid_run_learns_to_move_forward_in_1m_steps():
    """CleanRL's PPO reaches a mean return of ~716 on gymnasium's Humanoid-v4 after 1M steps. That number cannot be
    compared with ours: the return is gymnasium's reward (5 per step alive + 1.25 x forward speed - control cost), on
    gymnasium's humanoid (17 motors, 67 Hz control, alive while the torso centre is 1-2 m high, 1000-step
    episodes, 376-number observations). rewardsmith's humanoid is the DM Control model (21 motors, 40 Hz, the episode
    ends when the chest drops below 0.8 m, 400 steps) with its own run reward. And CleanRL takes ~160k gradient
    steps per 1M samples (one env, 10 epochs of 32 minibatches of 64) where the native trainer takes ~20k (256 envs,
    5 epochs of 32 minibatches of 256): it trades sample efficiency for wall-clock speed, 1M steps in ~1.5 min.
    ~716 is ~140 steps alive with little forward progress: CleanRL's policy at 1M steps has learned to stay up
    longer, not yet to run. What is asserted instead is the same stage of learning, in our own units: after 1M
    steps the policy stays up clearly longer than at the start of training and moves forward while it is up.
    Seed 0 with the former settings (128x128 network, 8 minibatches): evaluated episodes 49 steps long (the first
    training checkpoint: 29), 0.61 m/s forward while up; seed 1 with the current ones: 59 steps."""
    _, _, outcome, evaluation = _train_and_evaluate("humanoid", "run", steps=1_000_000)
    first_length = outcome.curve[0].episode_length
    assert evaluation.episode_length_mean >= 1.4 * first_length, (first_length, evaluation)
    speed_while_up = evaluation.terms["forward"].episode_sum / evaluation.episode_length_mean
    assert speed_while_up > 0.3, (speed_while_up, evaluation)
