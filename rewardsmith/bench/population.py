"""`python -m rewardsmith.bench gpu --population K`: the population trainer's throughput, side by side in one run.

Three numbers for the same env, reward and per-candidate settings: raw MJX stepping of the K x N batch (physics,
state view, the K rewards and termination under random actions: no policy, no learning, the ceiling), K candidates
trained together (aggregate env steps/s), and one candidate trained alone. Rates are steady-state (between the
first and the last checkpoint, compile excluded); the wall time including compile is printed beside them.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.task import Task
from rewardsmith.program.load import load_reward
from rewardsmith.records import CurvePoint
from rewardsmith.train.population import Member, Program, Sim, diverged
from rewardsmith.train.population_train import MemberResult, train_population


def raw_stepping(program: Program, control_steps: int) -> float:
    """Env steps/s of the whole K*N batch under random actions, timed after a first run that compiles."""
    sim, K, N = program.sim, program.K, program.N

    @jax.jit
    def run(data, key):
        def one(data, k):
            action = jax.random.uniform(k, (K, N, sim.nu), minval=-1.0, maxval=1.0)
            data = sim.step(data, action.reshape(K * N, -1))
            s = sim.view(data)
            total, _, _, _ = program.member_rewards(s, action, diverged(data).reshape(K, N), N)
            ends = sim.task.terminate(s, jnp) if sim.task.terminate else jnp.zeros(K * N, bool)
            return data, jnp.sum(total) + jnp.sum(ends)
        return jax.lax.scan(one, data, jax.random.split(key, control_steps))

    data = sim.draw(jnp.arange(K * N) % sim.bank_size)
    jax.block_until_ready(run(data, jax.random.PRNGKey(0)))
    start = time.perf_counter()
    jax.block_until_ready(run(data, jax.random.PRNGKey(1)))
    return K * N * control_steps / (time.perf_counter() - start)


def steady_rate(results: list[MemberResult], curves: dict[str, list[tuple[float, int]]]) -> float:
    """Aggregate env steps/s of the trained members between their first and last checkpoint."""
    total = 0.0
    for result in results:
        marks = curves.get(result.key, [])
        if len(marks) >= 2:
            (t0, s0), (t1, s1) = marks[0], marks[-1]
            total += (s1 - s0) / max(t1 - t0, 1e-9)
    return total


def trained(env: EnvSpec, task: Task, source: str, cfg: TrainConfig, count: int) -> tuple[float, float, list]:
    """(steady aggregate env steps/s, wall s incl. compile, results) of `count` members trained together."""
    members = [Member(f"c{i:02d}", load_reward(source), cfg.seed + i) for i in range(count)]
    curves: dict[str, list[tuple[float, int]]] = {}

    def progress(key: str, point: CurvePoint) -> None:
        curves.setdefault(key, []).append((point.wall_s, point.step))
    start = time.monotonic()
    results = train_population(env, task, members, cfg, progress)
    return steady_rate(results, curves), time.monotonic() - start, results


def population(env: EnvSpec, task: Task, cfg: TrainConfig, count: int, raw_steps: int) -> None:
    source = env.reference_reward_path(task.name).read_text()
    print(f"population trainer, {env.name}/{task.name} on {jax.devices()[0].device_kind}: {count} candidates x "
          f"{cfg.num_envs} envs, {cfg.steps:,} steps each", flush=True)
    sim = Sim(env, task, seed=cfg.seed)
    program = Program(sim, [Member(f"c{i:02d}", load_reward(source), i) for i in range(count)], cfg)
    raw = raw_stepping(program, raw_steps)
    print(f"  raw MJX stepping, batch {count * cfg.num_envs}: {raw:,.0f} env steps/s", flush=True)
    together, wall, results = trained(env, task, source, cfg, count)
    best = max((r.evaluation.fitness_mean or 0.0 for r in results if r.evaluation), default=None)
    print(f"  {count} trained together: {together:,.0f} env steps/s aggregate (steady); {wall:.0f} s for "
          f"{count * cfg.steps:,} steps incl. compile; best task score {best}", flush=True)
    alone, alone_wall, _ = trained(env, task, source, cfg, 1)
    print(f"  1 trained alone: {alone:,.0f} env steps/s (steady); {alone_wall:.0f} s incl. compile", flush=True)
    print(f"  together / raw stepping            {together / raw:10.2f}   (target >= 0.7 on a GPU)")
    print(f"  together / alone                   {together / alone if alone else float('nan'):10.2f}")
