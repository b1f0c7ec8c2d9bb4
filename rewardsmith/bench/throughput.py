"""Training throughput side by side in one run: raw batched stepping (the ceiling) against the trainers, on the CPU
(native MuJoCo, the native trainer, SB3) and on the GPU (MJX, Brax PPO on MJX, the population trainer)."""

from __future__ import annotations

import os
import time

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


def native_training(env, task, steps: int, overlap: bool) -> tuple[float, float]:
    """(env steps/s, env steps per CPU second of this process) of one native training, the update overlapped with
    the next rollout or run in turn (TrainConfig.overlap_update). Timed around the whole call: compile the update
    first (compile_native_update). One checkpoint, at the end, as in a real training (a checkpoint waits for the
    update in flight, and a training has ~10 of them in hundreds of iterations)."""
    from rewardsmith.train.native import train_native

    reward = load_reward(env.reference_reward_path(task.name).read_text())
    cfg = train_config_for(env.ppo, steps=steps, checkpoints=1, overlap_update=overlap)
    start, cpu_start = time.perf_counter(), time.process_time()
    outcome = train_native(env, task, reward, cfg)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return outcome.steps / elapsed, outcome.steps / cpu


def _pinned_training(cpu: int, env_name: str, task_name: str, steps: int, ready, results) -> None:
    """One of parallel_trainings' children: pinned to `cpu` (as evolve --parallel pins each training to its share), it
    compiles the update, waits for its sibling, trains, and reports (env steps, CPU seconds)."""
    os.sched_setaffinity(0, {cpu})
    env = get_env(env_name)
    task = env.task(task_name)
    compile_native_update(env, task)
    ready.wait()
    _, per_cpu_s = native_training(env, task, steps, overlap=False)
    results.put((steps, steps / per_cpu_s))


def parallel_trainings(env, task, steps: int, cpus: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """(env steps/s, env steps per CPU second) of len(cpus) native trainings at once, each pinned to one CPU (evolve
    --parallel 2 on 2 cores: the other way to keep both cores busy, where a generation has two trainings to run). The
    clock starts once both have compiled their update; each trains `steps`."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(len(cpus) + 1), ctx.Queue()
    children = [ctx.Process(target=_pinned_training, args=(cpu, env.name, task.name, steps, ready, results))
                for cpu in cpus]
    for child in children:
        child.start()
    ready.wait()
    start = time.perf_counter()
    done = [results.get() for _ in children]
    elapsed = time.perf_counter() - start
    for child in children:
        child.join()
    total = sum(s for s, _ in done)
    return total / elapsed, total / sum(c for _, c in done)


def compile_native_update(env, task) -> float:
    """Seconds of a one-iteration native training, which compiles the update for the process (both variants)."""
    from rewardsmith.train.native import train_native

    reward = load_reward(env.reference_reward_path(task.name).read_text())
    start = time.perf_counter()
    train_native(env, task, reward, train_config_for(env.ppo, steps=1, checkpoints=1))
    return time.perf_counter() - start


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
    compile_s = compile_native_update(env, task)
    # raw stepping before and after the trainings, averaged, and both trainer variants between them: the machine may
    # be shared, and its load may drift
    raw_before, cpu_before = raw_stepping(env, task, num_envs, args.steps)
    in_turn, in_turn_cpu = native_training(env, task, args.steps, overlap=False)
    overlapped, overlapped_cpu = native_training(env, task, args.steps, overlap=True)
    pair, pair_cpu = parallel_trainings(env, task, args.steps) if len(os.sched_getaffinity(0)) >= 2 else (None, None)
    raw_after, cpu_after = raw_stepping(env, task, num_envs, args.steps)
    raw, raw_cpu = (raw_before + raw_after) / 2, (cpu_before + cpu_after) / 2
    rows = [("raw batched MuJoCo stepping", raw), ("native trainer, update in turn", in_turn),
            ("native trainer, update overlapped", overlapped)]
    if pair is not None:
        rows.append(("two native trainings at once, 1 CPU each", pair))
    if not args.no_sb3:
        rows.append(("SB3 PPO, gymnasium Humanoid-v5", sb3_training(args.sb3_steps)))
    print(f"\n{args.env}/{args.task}, batch {num_envs}, {args.steps:,} steps")
    for name, value in rows:
        print(f"  {name:42s} {value:10,.0f} env steps/s")
    print(f"  (raw stepping: {raw_before:,.0f} before the trainings, {raw_after:,.0f} after; the row is their mean. "
          f"The trainers' rows exclude the update's compile: {compile_s:.1f} s for a first one-iteration training)")
    print(f"  native trainer / raw stepping      {'in turn':>10} {'overlapped':>11}   (target >= 0.85)")
    print(f"    wall clock                       {in_turn / raw:10.2f} {overlapped / raw:11.2f}")
    # CPU time (all threads of this process) is less sensitive to other processes on a shared machine than wall
    # time, but blind to cores left idle: the wall-clock ratio is the one that counts, and the gap between the two
    # is what idle cores cost (the overlap's target: within 0.03)
    print(f"    per CPU second                   {in_turn_cpu / raw_cpu:10.2f} {overlapped_cpu / raw_cpu:11.2f}   "
          f"(raw {raw_cpu:,.0f}, in turn {in_turn_cpu:,.0f}, overlapped {overlapped_cpu:,.0f} env steps per CPU s)")
    print(f"    gap (per CPU second - wall)      {(in_turn_cpu / raw_cpu - in_turn / raw):10.2f} "
          f"{(overlapped_cpu / raw_cpu - overlapped / raw):11.2f}   (target <= 0.03)")
    print(f"  overlapped / in turn               {overlapped / in_turn:10.2f}")
    if pair is not None and pair_cpu is not None:  # the executor's way: no lag, both cores on physics and updates
        print(f"  two trainings at once (evolve --parallel 2) / raw stepping: wall clock {pair / raw:.2f}, per CPU "
              f"second {pair_cpu / raw_cpu:.2f} ({pair_cpu:,.0f} env steps per CPU s), gap "
              f"{pair_cpu / raw_cpu - pair / raw:.2f}   (target <= 0.03); / one training in turn {pair / in_turn:.2f}")
    if not args.no_sb3:
        print(f"  native trainer (overlapped) / SB3  {overlapped / rows[-1][1]:10.2f}   (target >= 4)")


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
        from rewardsmith.bench.population import population

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
