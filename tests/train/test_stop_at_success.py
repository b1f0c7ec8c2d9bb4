"""Early stop at success (TrainConfig.stop_at_success, `evolve --stop-at-success`): the native trainer evaluates the
policy at each checkpoint and stops once the task's success rate reaches stop_success_rate; the curve says where.
Cart-pole balance learns within ~50k steps (seed 1: success 0 at 36,864 steps, 1.0 at 49,152), so a 200k budget
stops well before its end. ~20 s for the two trainer tests and ~40 s for the evolve one on 2 busy cores."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.train.native import (
    EVAL_FITNESS,
    EVAL_SUCCESS,
    STOP_EVAL_SEED,
    STOPPED_AT_SUCCESS,
    train_native,
)
from rewardsmith.train.rollouts import evaluate

BUDGET = 200_704  # 98 iterations of 64 envs x 32 steps


def _cartpole():
    env = get_env("cartpole")
    task = env.task("balance")
    return env, task, load_reward(env.reference_reward_path("balance").read_text())


def test_training_stops_where_the_success_rate_reaches_the_target(tmp_path):
    env, task, reward = _cartpole()
    cfg = train_config_for(env.ppo, steps=BUDGET, checkpoints=49, seed=1, stop_at_success=True)  # every 4096 steps
    checkpoint = tmp_path / "checkpoint.npz"
    outcome = train_native(env, task, reward, cfg, checkpoint=checkpoint)
    *before, last = outcome.curve
    assert outcome.steps < BUDGET and last.step == outcome.steps, [p.step for p in outcome.curve]
    assert last.extra[STOPPED_AT_SUCCESS] == 1.0 and last.extra[EVAL_SUCCESS] >= cfg.stop_success_rate
    assert before and all(p.extra[EVAL_SUCCESS] < cfg.stop_success_rate for p in before)
    assert not any(STOPPED_AT_SUCCESS in p.extra for p in before)
    assert all(0.0 <= p.extra[EVAL_FITNESS] <= 1.0 for p in outcome.curve)
    # the stop decision is the evaluation of the returned policy on the stop seed
    again, _ = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes, STOP_EVAL_SEED + cfg.seed)
    assert again.success_rate == last.extra[EVAL_SUCCESS]

    # continued from its checkpoint (successive halving's next rung), a stopped training stays stopped
    continued = train_native(env, task, reward, dataclasses.replace(cfg, steps=2 * BUDGET), checkpoint=checkpoint)
    assert continued.steps == outcome.steps and continued.curve == outcome.curve


def test_without_the_flag_or_a_success_threshold_training_runs_its_budget():
    env, task, reward = _cartpole()
    budget = 8 * 64 * 32
    cfg = train_config_for(env.ppo, steps=budget, checkpoints=2, seed=1)
    for task_now, stop in ((task, False), (dataclasses.replace(task, success_threshold=None), True)):
        outcome = train_native(env, task_now, reward, dataclasses.replace(cfg, stop_at_success=stop))
        assert outcome.steps == budget
        assert all(EVAL_SUCCESS not in p.extra and STOPPED_AT_SUCCESS not in p.extra for p in outcome.curve)


def test_evolve_flag_reaches_the_trainer(tmp_path):
    """`evolve --stop-at-success` end to end (run config, sandboxed train job): the candidate's training records
    fewer steps than its budget and its curve ends at the stop."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    args = ["--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1", "--samples", "1",
            "--train-steps", str(BUDGET), "--seed", "1", "--no-video", "--no-halving", "--stop-at-success",
            "--out", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "config.json").read_text())["train"] == {"stop_at_success": True}
    (cand,) = [json.loads(p.read_text()) for p in run_dir.glob("gen_00/cand_*/candidate.json")]
    train = cand["train"]
    assert train["steps"] < BUDGET and train["curve"][-1]["step"] == train["steps"]
    assert train["curve"][-1]["extra"][STOPPED_AT_SUCCESS] == 1.0


def test_a_candidate_stopped_at_success_says_so_where_people_and_the_llm_read_its_status():
    """show, the review page and the next prompt print Candidate.status_text."""
    from builders import evaluated

    from rewardsmith.records import Candidate, CurvePoint, Stop

    cand = evaluated(0, 1, 0.9)
    assert cand.status_text == "evaluated"
    assert cand.train is not None
    last = CurvePoint(step=2000, episode_return=1.0, episode_length=9.0, fitness=0.9, terms={}, wall_s=1.0,
                      extra={STOPPED_AT_SUCCESS: 1.0, EVAL_SUCCESS: 0.875})
    stopped = cand.replace(train=dataclasses.replace(cand.train, curve=(*cand.train.curve, last), steps=2000,
                                                     reached_success=True), stop=Stop.SUCCESS)
    assert stopped.status_text == "reached success at 2,000 steps"
    # a candidate stored before schema 3 said it only on its last curve point: read back, it says the same
    legacy = {**stopped.to_dict(), "schema": 2, "stop": None, "stopped_at": None}
    legacy["train"] = {k: v for k, v in legacy["train"].items() if k != "reached_success"}
    assert Candidate.from_dict(legacy).stop is Stop.SUCCESS
    assert Candidate.from_dict(legacy).status_text == "reached success at 2,000 steps"
    halved = {**legacy, "stopped_at": 1024}  # and halving's budget, with the steps it really trained
    assert Candidate.from_dict(halved).status_text == "stopped by halving at 2,000 steps"
