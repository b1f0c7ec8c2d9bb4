"""Benchmarks: training throughput (cpu, gpu; numbers measured side by side in one run, printed as ratios) and reward
quality (quality: evolved vs reference vs random policy, rewardsmith/evaluate/quality.py).

    python -m rewardsmith.bench cpu [--env humanoid --task run --steps 65536]
        raw batched MuJoCo stepping (the CPU ceiling), the native trainer, and SB3 PPO on gymnasium Humanoid-v5
        (needs the `bench` extra: scripts/setup.sh test bench)
    python -m rewardsmith.bench gpu [--env humanoid --task run --steps 20000000]
        raw batched MJX stepping of the same env (the GPU ceiling) and Brax PPO on MJX (the GPU trainer)
    python -m rewardsmith.bench evolve [--env hopper --task hop --samples 8 --steps 5000000 --seed 0]
        one LLM-free generation without and with successive halving: env steps, wall time, best task score
    python -m rewardsmith.bench evolve --executor local|ray [--env cartpole --task balance --samples 4 --steps 16384]
        the same small evolve sequential, with --parallel 2, and (ray) on a local Ray cluster of two 1-CPU nodes:
        wall times side by side and Ray's overhead per training (rewardsmith/train/executor_bench.py)
    python -m rewardsmith.bench quality --tasks cartpole/balance,hopper/hop:300000 (--model M [--model M2] | --llm-free)
            [--api-base URL] [--iterations 3 --samples 4 --seeds 3 --train-steps N --out runs/quality]
        per task: evolve, retrain the best reward and the reference reward on fresh seeds at equal budget, measure
        a random policy; prints and writes (quality.json, quality.md) fitness, success, the human-normalised score
        and the share of tasks where evolved beats reference (rewardsmith/evaluate/quality.py states the rules)
    python -m rewardsmith.bench judge --run RUN --judge-model M [--api-base URL] [--out DIR]
        the vision judge (--feedback judge) ranks each generation of a finished run from its films; prints its
        agreement with the task's fitness ranking (Kendall tau, best/worst hit) per generation and overall
        (rewardsmith/feedback/agreement.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from rewardsmith.config import train_config_for
from rewardsmith.env.registry import get_env
from rewardsmith.env.sim import NativeBatch
from rewardsmith.program.load import load_reward


def raw_stepping(env, task, num_envs: int, steps: int) -> tuple[float, float]:
    """(env steps/s, env steps per CPU second of this process, all its threads) of batched native stepping with
    random actions (no policy, no reward, no learning)."""
    sim = NativeBatch(env, task.name, num_envs, seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (64, num_envs, sim.model.nu))
    sim.step(actions[0])
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(steps // num_envs):
        sim.step(actions[i % 64])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    sim.close()
    done = (steps // num_envs) * num_envs
    return done / elapsed, done / cpu


def native_training(env, task, steps: int) -> tuple[float, float, float]:
    """(steps/s including the first update's compile, steps/s after it, steps per CPU second after it) of the
    native trainer."""
    from rewardsmith.train.native import train_native

    reward = load_reward(env.reference_reward_path(task.name).read_text())
    per_iteration = env.ppo.get("num_envs", 64) * env.ppo.get("rollout_steps", 32)
    cfg = train_config_for(env.ppo, steps=steps, checkpoints=steps // per_iteration)
    marks = []
    outcome = train_native(env, task, reward, cfg,
                           lambda step, point: marks.append((step, point.wall_s, time.process_time())))
    (s0, t0, c0), (s1, t1, c1) = marks[0], marks[-1]
    return outcome.steps_per_s, (s1 - s0) / (t1 - t0), (s1 - s0) / (c1 - c0)


def sb3_training(steps: int) -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(2)
    vec = make_vec_env("Humanoid-v5", n_envs=8, seed=0)  # SB3's own DummyVecEnv (it rejects gymnasium's vector envs)
    model = PPO("MlpPolicy", vec, n_steps=256, batch_size=256, verbose=0, device="cpu")
    model.learn(2048)  # warm-up
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def cpu(args) -> None:
    env = get_env(args.env)
    task = env.task(args.task)
    num_envs = env.ppo.get("num_envs", 64)
    # raw stepping before and after the training, averaged: the machine may be shared, and its load may drift
    raw_before, cpu_before = raw_stepping(env, task, num_envs, args.steps)
    total, steady, steady_cpu = native_training(env, task, args.steps)
    raw_after, cpu_after = raw_stepping(env, task, num_envs, args.steps)
    raw, raw_cpu = (raw_before + raw_after) / 2, (cpu_before + cpu_after) / 2
    rows = [("raw batched MuJoCo stepping", raw),
            ("native trainer (steady)", steady), ("native trainer (incl. compile)", total)]
    if not args.no_sb3:
        rows.append(("SB3 PPO, gymnasium Humanoid-v5", sb3_training(args.sb3_steps)))
    print(f"\n{args.env}/{args.task}, batch {num_envs}, {args.steps:,} steps")
    for name, value in rows:
        print(f"  {name:34s} {value:10,.0f} env steps/s")
    print(f"  (raw stepping: {raw_before:,.0f} before the training, {raw_after:,.0f} after; the row is their mean)")
    print(f"  native trainer / raw stepping      {steady / raw:10.2f}   (target >= 0.85)")
    # CPU time (all threads of this process) is less sensitive to other processes on a shared machine than wall
    # time, but blind to cores left idle: the wall-clock ratio above is the one that counts
    print(f"  same, per CPU second               {steady_cpu / raw_cpu:10.2f}   ({steady_cpu:,.0f} / {raw_cpu:,.0f} "
          "env steps per CPU s)")
    if not args.no_sb3:
        print(f"  native trainer / SB3 PPO           {steady / rows[-1][1]:10.2f}   (target >= 4)")


def timed_random_rollout(step, state, batch: int, action_size: int, steps: int):
    """(seconds, final state) of `steps` calls of the batched `step(state, action)` with uniform random actions in
    [-1, 1], in one jitted scan, timed after a first run that compiles it."""
    import jax

    @jax.jit
    def run(state, key):
        def one(carry, k):
            return step(carry, jax.random.uniform(k, (batch, action_size), minval=-1.0, maxval=1.0)), None
        return jax.lax.scan(one, state, jax.random.split(key, steps))[0]

    jax.block_until_ready(run(state, jax.random.PRNGKey(1)))  # compile
    start = time.perf_counter()
    out = jax.block_until_ready(run(state, jax.random.PRNGKey(2)))
    return time.perf_counter() - start, out


def mjx_stepping(env, task, reward, num_envs: int, control_steps: int) -> tuple[float, float]:
    """(env steps/s, physics steps/s) of the MJX env stepped in a batch with random actions: physics, state view,
    reward and termination as the trainer runs them, no policy and no learning. Timed after compiling."""
    import jax
    import jax.numpy as jnp

    from rewardsmith.train.mjx import make_env

    mjx_env = make_env(env, task, reward, seed=0)
    states = jax.jit(jax.vmap(mjx_env.reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))
    elapsed, out = timed_random_rollout(jax.vmap(mjx_env.step), states, num_envs, mjx_env.action_size, control_steps)
    diverged = float(jnp.mean(~jnp.all(jnp.isfinite(out.pipeline_state.qvel), axis=-1)))
    env_rate = num_envs * control_steps / elapsed
    print(f"  raw MJX stepping, batch {num_envs}: {env_rate:,.0f} env steps/s = {env_rate * env.frame_skip:,.0f} "
          f"physics steps/s ({control_steps} control steps in {elapsed:.2f} s; {diverged:.1%} of envs non-finite "
          f"after them)", flush=True)
    return env_rate, env_rate * env.frame_skip


def gpu(args) -> None:
    import jax

    from rewardsmith.train.mjx import brax_settings, train_mjx

    env = get_env(args.env)
    task = env.task(args.task)
    reward = load_reward(env.reference_reward_path(task.name).read_text())
    cfg = train_config_for(env.ppo, steps=args.steps, checkpoints=args.checkpoints)
    if args.population:
        from rewardsmith.train.population_bench import population

        population(env, task, cfg, args.population, args.raw_steps)
        return
    print(f"MJX {args.env}/{args.task} on {jax.devices()[0].device_kind}", flush=True)
    raw = None
    if args.raw_steps:
        raw = mjx_stepping(env, task, reward, brax_settings(cfg, env)["num_envs"], args.raw_steps)[0]
    from rewardsmith.train.policy import TrainingStopped

    marks = []

    def on_progress(step, m):
        marks.append((step, m.wall_s, m.episode_return))
        extra = m.extra
        print(f"  step {step:>12,}  wall {m.wall_s:7.1f} s  eval return {m.episode_return or float('nan'):9.1f}  "
              f"length {m.episode_length or float('nan'):6.1f}  diverged {extra.get('diverged_fraction') or 0.0:.2f}  "
              f"brax training sps {extra.get('train_sps') or 0:,.0f}  eval {extra.get('eval_s') or 0.0:.1f} s",
              flush=True)

    try:
        outcome = train_mjx(env, task, reward, cfg, on_progress)
        print(f"  {outcome.steps:,} steps in {outcome.wall_s:.0f} s; "
              f"overall steps/s incl. compile {outcome.steps_per_s:,.0f}")
    except TrainingStopped as stop:
        print(f"  stopped: {stop}")
    if len(marks) >= 3:  # from the first evaluation after training began: the one before it precedes the compile
        (s0, t0, _), (s1, t1, _) = marks[1], marks[-1]
        steady = (s1 - s0) / (t1 - t0)
        print(f"  steady training steps/s {steady:,.0f}  (target >= 500,000 on one H100)")
        if raw:
            print(f"  MJX training / raw MJX stepping    {steady / raw:10.2f}")


def _quality_event(event: dict) -> None:
    """Progress of the quality benchmark: one line per candidate, selection and retrain seed (not per update)."""
    kind = event["event"]
    if kind == "task":
        print(f"\n== {event['task']}", flush=True)
    elif kind == "generation":
        print(f"generation {event['gen'] + 1}/{event['of']}", flush=True)
    elif kind == "candidate":
        print(f"  {event['id']} {event['status']}" + (f": {event['reason']}" if event.get("reason") else ""),
              flush=True)
    elif kind == "selection":
        print(f"  selected {event['best'] or 'none'}; best so far {event['best_overall'] or 'none'}", flush=True)
    elif kind == "retrain":
        print(f"retraining {event['which']} on seeds {event['seeds']}", flush=True)
    elif kind == "seed":
        fitness = "—" if event["fitness"] is None else f"{event['fitness']:.3f}"
        print(f"  seed {event['seed']}: {event['status']}  task score {fitness}  "
              f"{event['wall_s'] or 0:.0f} s {event['reason'] or ''}", flush=True)


def quality(args) -> None:
    from rewardsmith.config import RunConfig
    from rewardsmith.env.registry import UnknownNameError
    from rewardsmith.evaluate.quality import markdown, run_benchmark
    from rewardsmith.runs.store import StoreError

    if args.llm_free == bool(args.model):
        sys.exit("error: give --llm-free or at least one --model (repeat --model to split samples across models)")
    if args.llm_free and args.api_base:
        sys.exit("error: --llm-free cannot be combined with --api-base")
    base = RunConfig(env="-", task="-", iterations=args.iterations, samples=args.samples,
                     models=tuple(args.model or ()), api_bases=tuple(args.api_base or ()), feedback="metrics",
                     video=False, trainer=args.trainer, train_steps=args.train_steps, seed=args.seed,
                     train={"time_budget_s": args.time_budget_s} if args.time_budget_s else {})
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    try:
        results = run_benchmark(base, tasks, args.seeds, args.out, _quality_event)
    except (UnknownNameError, StoreError, ValueError) as err:
        sys.exit(f"error: {err}")
    print()
    print(markdown(results, base))
    print(f"written: {args.out / 'quality.json'} and {args.out / 'quality.md'}")


def evolve_budget(args: argparse.Namespace) -> None:
    """One LLM-free generation of K candidates trained three times, without halving, with successive halving, and
    with halving and --stop-at-success (the same K programs each time: the mutations are seeded), side by side:
    env steps simulated, wall time, best score."""
    import tempfile

    from rewardsmith.config import RunConfig
    from rewardsmith.evolve import evolve
    from rewardsmith.runs.store import RunStore, new_run_id

    rows = []
    out = Path(tempfile.mkdtemp(prefix="rewardsmith-bench-evolve-"))
    arms: tuple[tuple[str, bool, dict], ...] = (("without halving", False, {}), ("with halving", True, {}),
            ("with halving and stop at success", True, {"stop_at_success": True}))
    for name, halving, train in arms:
        cfg = RunConfig(env=args.env, task=args.task, iterations=1, samples=args.samples, train_steps=args.steps,
                        seed=args.seed, video=False, halving=halving, train=train)
        store = RunStore.create(out, f"{name.replace(' ', '-')}-{new_run_id(cfg.env, cfg.task)}", cfg)
        start = time.monotonic()
        result = evolve(store, cfg)
        wall = time.monotonic() - start
        cands = store.candidates(0)
        steps = sum(c.train.steps for c in cands if c.train)  # a continued training is counted once
        rows.append((name, steps, wall, result["fitness"]))
        print(f"  {name}: {steps:,} env steps, {wall:.0f} s, best {result['best']} task score {result['fitness']}",
              flush=True)
    print(f"{args.env}/{args.task}, K = {args.samples}, {args.steps:,} steps per full training, runs in {out}")
    _, steps_full, wall_full, _ = rows[0]
    for name, steps, wall, fitness in rows:
        print(f"  {name:34s} env steps {steps:>12,} ({steps_full / steps:.2f}x fewer)  wall {wall:6.0f} s "
              f"({wall_full / wall:.2f}x)  best task score {fitness}")


def judge_agreement(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from rewardsmith.feedback.agreement import run_agreement
    from rewardsmith.runs.store import StoreError

    if not args.run or not args.judge_model or len(args.api_base or ()) > 1:
        parser.error("judge mode needs --run RUN and --judge-model M, and at most one --api-base")
    out = None if args.out == parser.get_default("out") else args.out  # default: RUN/judge_agreement/<time>
    try:
        run_agreement(args.run, args.judge_model, (args.api_base or [None])[0], out)
    except (StoreError, ValueError) as err:
        sys.exit(f"error: {err}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cpu", "gpu", "quality", "evolve", "judge", "cache"))
    parser.add_argument("--env", default=None, help="[default: humanoid (cpu, gpu), hopper (evolve)]")
    parser.add_argument("--task", default=None, help="[default: run (cpu, gpu), hop (evolve)]")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sb3-steps", type=int, default=16_384)
    parser.add_argument("--no-sb3", action="store_true")
    parser.add_argument("--executor", choices=("local", "ray"), default=None,
                        help="evolve mode: compare executors (sequential, --parallel 2, and a 2-node Ray cluster)")
    parser.add_argument("--raw-steps", type=int, default=50,
                        help="gpu mode: control steps of the raw MJX timing (0: skip)")
    parser.add_argument("--checkpoints", type=int, default=8, help="gpu mode: evaluations during the training")
    parser.add_argument("--population", type=int, default=0, metavar="K",
                        help="gpu mode: K candidates trained together by the population trainer, next to raw MJX "
                        "stepping of the same batch and one candidate alone (instead of Brax PPO)")
    quality_args = parser.add_argument_group("quality mode")
    quality_args.add_argument("--tasks", default="", help="env/task pairs, comma-separated, each with an optional "
                              ":steps budget (cartpole/balance,hopper/hop:300000)")
    quality_args.add_argument("--model", action="append", help="litellm model string; repeat for several models")
    quality_args.add_argument("--api-base", action="append",
                              help="OpenAI-compatible server: once for every model, or once per --model in order")
    quality_args.add_argument("--llm-free", action="store_true", help="evolve the reference reward's scales")
    quality_args.add_argument("--iterations", type=int, default=3, help="generations of each evolve")
    quality_args.add_argument("--samples", type=int, default=None,
                              help="reward programs per generation [default: 4; evolve mode: 8]")
    quality_args.add_argument("--seeds", type=int, default=3, help="fresh seeds of the retrains")
    quality_args.add_argument("--train-steps", type=int, default=None,
                              help="env steps of every training (evolve and retrains) [default: each task's budget]")
    quality_args.add_argument("--trainer", default="native", help="native (CPU) or mjx (GPU)")
    quality_args.add_argument("--seed", type=int, default=0, help="the evolve's seed; the retrains use seed+1...")
    quality_args.add_argument("--time-budget-s", type=float, default=None,
                              help="wall limit of one training [default: TrainConfig's]; raise it for big budgets")
    quality_args.add_argument("--out", type=Path, default=Path("runs/quality"),
                              help="where the runs, the retrains and quality.json / quality.md go")
    judge_args = parser.add_argument_group("judge mode (also --api-base: the judge's server; --out)")
    judge_args.add_argument("--run", type=Path, help="a finished run of a task with a fitness metric")
    judge_args.add_argument("--judge-model", help="the vision LLM to check, a litellm model string")
    args = parser.parse_args()
    if args.mode == "judge":
        judge_agreement(args, parser)
        return
    if args.mode == "cache":  # the XLA compilation cache, off / empty / warm (train/cache_bench.py)
        from rewardsmith.train.cache_bench import compare_cache

        compare_cache(args.env or "cartpole", args.task or "balance", args.steps or 30_000, args.seed)
        return
    if args.mode == "evolve" and args.executor:
        from rewardsmith.train.executor_bench import compare_executors

        compare_executors(args.env or "cartpole", args.task or "balance", args.samples or 4, args.steps or 16_384,
                          args.seed, with_ray=args.executor == "ray")
        return
    if args.mode == "evolve":
        args.env, args.task = args.env or "hopper", args.task or "hop"
        args.steps, args.samples = args.steps or 5_000_000, args.samples or 8
        evolve_budget(args)
        return
    args.samples = args.samples or 4
    args.env, args.task = args.env or "humanoid", args.task or "run"
    if args.mode == "quality":
        quality(args)
        return
    if args.steps is None:
        args.steps = 65_536 if args.mode == "cpu" else 20_000_000
    (cpu if args.mode == "cpu" else gpu)(args)


if __name__ == "__main__":
    main()
