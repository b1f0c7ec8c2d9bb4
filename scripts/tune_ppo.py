"""Steps to success of one native training, for tuning an env's PPO settings: trains the task's reference reward
with the env's PPO dict (plus --set overrides), evaluates the policy deterministically at every checkpoint (the
stop-at-success evaluation: eval_episodes episodes on their own seed) and stops at the success rate the config asks
for; then evaluates the final policy as the train job does (seed records.EVAL_SEED). One line per checkpoint:
step, wall, training-episode task score, evaluation success rate and task score.

    .venv/bin/python scripts/tune_ppo.py --env humanoid --task kneel --steps 5000000 --seed 1 --evals 10 \\
        [--set minibatches=32 --set gamma=0.97 ...] [--no-stop]

--no-stop evaluates at every checkpoint and trains the whole budget (the curve past success).
"""

from __future__ import annotations

import argparse
import json
import time

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.program.load import load_reward
from rewardsmith.records import EVAL_SEED, CurvePoint
from rewardsmith.train.native import EVAL_FITNESS, EVAL_SUCCESS, train_native
from rewardsmith.train.rollouts import evaluate


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="humanoid")
    parser.add_argument("--task", default="kneel")
    parser.add_argument("--steps", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--evals", type=int, default=10, help="checkpoints (evaluations) over the budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="a TrainConfig override, e.g. minibatches=32 or hidden=[256,256]")
    parser.add_argument("--no-stop", action="store_true", help="evaluate at every checkpoint, never stop early")
    args = parser.parse_args()
    env = get_env(args.env)
    task = env.task(args.task)
    reward = load_reward(env.reference_reward_path(task.name).read_text())
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    # --no-stop: a rate no evaluation reaches, so every checkpoint is evaluated and training runs to the budget
    rate = float("inf") if args.no_stop else overrides.pop("stop_success_rate", 0.8)
    cfg = train_config_for(env.ppo, steps=args.steps, seed=args.seed, checkpoints=args.evals, stop_at_success=True,
                           stop_success_rate=rate, time_budget_s=4 * 3600.0, **overrides)
    print(f"{args.env}/{args.task} seed {args.seed}, {args.steps:,} steps, overrides {overrides}", flush=True)
    print(f"{'step':>10} {'wall s':>7} {'train':>6} {'eval success':>12} {'eval score':>10}", flush=True)

    def line(step: int, point: CurvePoint) -> None:
        print(f"{step:>10,} {point.wall_s:7.0f} {_fmt(point.fitness)} {_fmt(point.extra.get(EVAL_SUCCESS)):>12} "
              f"{_fmt(point.extra.get(EVAL_FITNESS)):>10}", flush=True)

    start = time.monotonic()
    outcome = train_native(env, task, reward, cfg, line)
    evaluation, _ = evaluate(env, task, reward, outcome.policy, cfg.eval_episodes, EVAL_SEED)
    print(f"trained {outcome.steps:,} steps in {time.monotonic() - start:.0f} s ({outcome.steps_per_s:,.0f} steps/s); "
          f"final evaluation (seed {EVAL_SEED}, {evaluation.episodes} episodes): success {_fmt(evaluation.success_rate)} "
          f"task score {_fmt(evaluation.fitness_mean)}", flush=True)


if __name__ == "__main__":
    main()
