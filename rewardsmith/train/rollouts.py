"""Deterministic evaluation of a trained policy: task fitness, success rate, per-term statistics, a filmable trace.

Every evaluation episode runs for the task's full episode length; after a termination the episode is over and its
remaining steps add nothing (fitness counts them as 0), exactly as the fitness contract in tasks.py says.

The trace (what the train, population and play jobs save as trace.npz, and evaluate/trace.py reads back) holds
every evaluation episode, so the film stage can show the one that represents the score and the worst one:
  qpos     float64 [E, T, nq]  row 0 the start, row t the state after control step t; rows past an episode's end
                               repeat its last state (T = 1 + the longest episode)
  lengths  int64 [E]           each episode's control steps (Evaluation.episode_lengths): rows 0..lengths[e]
  dt       float64 []          seconds per control step
  qvel, sensordata  float64 [E, T, nv], [E, T, nsensordata]  the same rows' velocities and sensor readings, so that a
                               state view can be rebuilt from the trace (the exploit detectors, evaluate/exploits.py);
                               the native evaluation writes them, the population trainer's evaluation does not
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch
from rewardsmith.env.task import Task
from rewardsmith.program.load import LoadedReward
from rewardsmith.records import Evaluation, TermStats
from rewardsmith.train.stats import reward_step


class Actor(Protocol):
    """What an evaluation needs of a policy: the deterministic action for a batch of observations (a trained
    Policy, or the quality benchmark's random policy)."""

    def act(self, obs: np.ndarray, action_dim: int) -> np.ndarray: ...


def evaluate(env: EnvSpec, task: Task, reward: LoadedReward, policy: Actor, episodes: int, seed: int,
             trace: bool = True) -> tuple[Evaluation, dict]:
    """Runs `episodes` episodes in parallel; returns the Evaluation and the trace of every episode (the module's
    docstring; an empty dict when `trace` is False)."""
    sim = NativeBatch(env, task.name, episodes, seed=seed)
    try:
        return _run(sim, env, task, reward, policy, trace)
    finally:
        sim.close()


def pack_trace(qpos: np.ndarray, lengths: np.ndarray, dt: float, **rows: np.ndarray) -> dict:
    """The trace record of E episodes from qpos [E, T, nq] (row 0 the start), each episode's control steps, and
    optional other per-row arrays [E, T, k] (qvel, sensordata): rows after an episode's last alive step are
    overwritten with that step's state (after a termination the simulation went on, and those states were never
    scored)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    last = np.minimum(np.arange(np.shape(qpos)[1])[None, :], lengths[:, None])
    padded = {name: np.take_along_axis(np.asarray(array, dtype=np.float64), last[:, :, None], axis=1)
              for name, array in {"qpos": qpos, **rows}.items()}
    return {**padded, "lengths": lengths, "dt": float(dt)}


def episode_scores(fitness: np.ndarray) -> tuple[float | None, ...]:
    """Each episode's task score as a record keeps it (None where it is not finite)."""
    return tuple(float(x) if np.isfinite(x) else None for x in np.asarray(fitness, np.float64))


def _run(sim, env, task, reward, policy, traced):
    n = sim.num_envs
    alive = np.ones(n, dtype=bool)
    length = np.zeros(n)
    fitness = np.zeros(n)
    ret = np.zeros(n)
    term_sums = {k: np.zeros(n) for k in reward.scales}
    term_values = {k: [] for k in reward.scales}
    trace = [_row(sim)] if traced else []
    for step in range(task.episode_steps):
        raw = sim.raw()
        action = policy.act(env.observation(raw.qpos, raw.qvel, sim.sensors(), np), sim.model.nu)
        sim.step(action)
        rewarded = reward_step(env, reward, sim, action, step)
        total, s, scaled = rewarded.total, rewarded.s, rewarded.scaled
        if traced:  # the state after this step: the last one an episode ending now shows
            trace.append(_row(sim))
        live = alive.astype(np.float64)
        length += live
        ret += live * total
        if task.fitness is not None:
            fitness += live * np.asarray(task.fitness(s, np), dtype=np.float64)
        for k in reward.scales:
            term_sums[k] += live * scaled[k]
            term_values[k].append(np.broadcast_to(np.asarray(rewarded.raw[k], dtype=np.float64), (n,))[alive])
        if task.terminate is not None:
            alive &= ~np.asarray(task.terminate(s, np), dtype=bool)
        if not alive.any():
            break
    fitness /= task.episode_steps
    has_fitness = task.fitness is not None
    success = None
    if has_fitness and task.success_threshold is not None:
        success = float(np.mean(fitness >= task.success_threshold))
    terms = {}
    for k, scale in reward.scales.items():
        values = np.concatenate(term_values[k]) if term_values[k] else np.zeros(1)
        terms[k] = TermStats(scale=float(scale), episode_sum=float(term_sums[k].mean()),
                             per_step_mean=float(values.mean()), per_step_std=float(values.std()))
    evaluation = Evaluation(
        episodes=n,
        fitness_mean=float(fitness.mean()) if has_fitness else None,
        fitness_std=float(fitness.std()) if has_fitness else None,
        success_rate=success,
        return_mean=float(ret.mean()),
        episode_length_mean=float(length.mean()),
        terms=terms,
        fitness_version=task.fitness_version if has_fitness else None,
        episode_scores=episode_scores(fitness) if has_fitness else (),
        episode_lengths=tuple(int(x) for x in length),
    )
    if not traced:
        return evaluation, {}
    dt = float(sim.model.opt.timestep * env.frame_skip)
    qpos, qvel, sensordata = (np.stack([row[i] for row in trace], axis=1) for i in range(3))
    return evaluation, pack_trace(qpos, length.astype(np.int64), dt, qvel=qvel, sensordata=sensordata)


def _row(sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = sim.raw()
    return raw.qpos.copy(), raw.qvel.copy(), raw.sensordata.copy()
