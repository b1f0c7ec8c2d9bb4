"""The population's deterministic evaluation: every member's policy, `episodes` episodes each, batched in one jitted
function on MJX. Each episode runs for the task's full length; after a termination it is over and its remaining
steps add nothing (fitness counts them as 0), as in train/rollouts.py, whose Evaluation record and filmable
trace of every episode this produces too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from rewardsmith.records import Evaluation, TermStats
from rewardsmith.train.population import Learner, Program, diverged, normalize, strong
from rewardsmith.train.ppo import mlp
from rewardsmith.train.rollouts import episode_scores, pack_trace


class Evaluator:
    """Compiled once per program and episode count; call it with a Learner for every member's Evaluation."""

    def __init__(self, program: Program, episodes: int):
        self.program, self.E = program, episodes
        self.run: Callable = jax.jit(self._run)
        self.compiling: Future | None = None

    def compile_in_background(self, learner: Learner, starts) -> None:
        """Traces now and compiles on a thread while the training program compiles and trains: compiling this
        evaluation took 88 s for the humanoid on 2 busy cores, and XLA compiles off the GIL."""
        lowered = jax.jit(self._run).lower(strong(learner), strong(starts))
        self.compiling = ThreadPoolExecutor(1, thread_name_prefix="compile-eval").submit(lowered.compile)

    def starts(self, seed: int):
        """The E start states the env's initial_state draws with `seed`, the same for every member (a batch of
        K*E; the start is an argument of the compiled function, so another seed compiles nothing)."""
        sim, K = self.program.sim, self.program.K
        mj_model = mujoco.MjModel.from_xml_path(str(sim.env.model_path))
        qpos, qvel = sim.env.initial_state(np.random.default_rng(seed), mj_model.qpos0.copy(), self.E, sim.task.name)
        return sim.start_states(np.tile(qpos, (K, 1)), np.tile(qvel, (K, 1)))

    def _run(self, learner: Learner, data):
        program, sim, task = self.program, self.program.sim, self.program.sim.task
        K, E = program.K, self.E

        def step(carry, _):
            data, alive, sums = carry
            obs = sim.observe(data).reshape(K, E, -1)
            obs_n = jax.vmap(normalize)(obs, learner.obs_mean, learner.obs_var)
            action = jnp.clip(jax.vmap(lambda p, o: mlp(p, o, jnp))(learner.params["policy"], obs_n), -1.0, 1.0)
            data = sim.step(data, action.reshape(K * E, -1))
            broken = diverged(data)
            s = sim.view(data)
            total, scaled, raw, _ = program.member_rewards(s, action, broken.reshape(K, E), E)
            fitness = jnp.where(broken, 0.0, task.fitness(s, jnp)) if task.fitness else jnp.zeros(K * E)
            ends = (task.terminate(s, jnp) if task.terminate else jnp.zeros(K * E, bool)) | broken
            live = alive.astype(jnp.float32)
            sums = {"length": sums["length"] + live, "return": sums["return"] + live * total,
                    "fitness": sums["fitness"] + live * fitness.reshape(K, E).astype(jnp.float32),
                    "terms": [{t: sums["terms"][k][t] + live[k] * v for t, v in scaled[k].items()}
                              for k in range(K)],
                    "raw": [{t: (sums["raw"][k][t][0] + jnp.sum(live[k] * v), sums["raw"][k][t][1] + jnp.sum(
                        live[k] * v**2)) for t, v in raw[k].items()} for k in range(K)]}
            # every episode is traced (the film stage chooses which to show): the state after the step
            trace = data.qpos.reshape(K, E, -1)
            return (data, alive & ~ends.reshape(K, E), sums), trace

        zeros = jnp.zeros((K, E))
        sums = {"length": zeros, "return": zeros, "fitness": zeros,
                "terms": [{t: jnp.zeros(E) for t in m.reward.scales} for m in program.members],
                "raw": [{t: (jnp.zeros(()), jnp.zeros(())) for t in m.reward.scales} for m in program.members]}
        (_, _, sums), trace = jax.lax.scan(step, (data, jnp.ones((K, E), bool), sums), None,
                                           length=task.episode_steps)
        return sums, trace

    def __call__(self, learner: Learner, starts) -> list[tuple[Evaluation, dict]]:
        if self.compiling is not None:
            self.run, self.compiling = self.compiling.result(), None
        sums, qpos = jax.device_get(self.run(strong(learner), strong(starts)))
        first = np.asarray(starts.qpos).reshape(self.program.K, self.E, 1, -1)
        return [self._member(k, sums, np.concatenate([first[k], np.moveaxis(qpos[:, k], 0, 1)], axis=1))
                for k in range(self.program.K)]

    def _member(self, k: int, sums, qpos) -> tuple[Evaluation, dict]:
        """Member k's Evaluation and trace; qpos [E, 1 + episode steps, nq] from each episode's start."""
        task, member = self.program.sim.task, self.program.members[k]
        has_fitness = task.fitness is not None
        fitness = np.asarray(sums["fitness"][k], np.float64) / task.episode_steps
        success = None
        if has_fitness and task.success_threshold is not None:
            success = float(np.mean(fitness >= task.success_threshold))
        alive_steps = float(np.sum(sums["length"][k]))
        terms = {}
        for t, scale in member.reward.scales.items():
            total, squares = (float(x) for x in sums["raw"][k][t])
            mean = total / alive_steps if alive_steps else 0.0
            var = max(squares / alive_steps - mean**2, 0.0) if alive_steps else 0.0
            terms[t] = TermStats(scale=float(scale), episode_sum=float(np.mean(sums["terms"][k][t])),
                                 per_step_mean=_finite_or(mean), per_step_std=_finite_or(float(np.sqrt(var))))
        evaluation = Evaluation(
            episodes=self.E, fitness_mean=float(fitness.mean()) if has_fitness else None,
            fitness_std=float(fitness.std()) if has_fitness else None, success_rate=success,
            return_mean=float(np.mean(sums["return"][k])), episode_length_mean=float(np.mean(sums["length"][k])),
            terms=terms, fitness_version=task.fitness_version if has_fitness else None,
            episode_scores=episode_scores(fitness) if has_fitness else (),
            episode_lengths=tuple(int(x) for x in np.asarray(sums["length"][k])))
        lengths = np.asarray(sums["length"][k]).round().astype(np.int64)  # steps alive: the film ends there
        return evaluation, pack_trace(qpos[:, :1 + int(lengths.max(initial=0))], lengths, self.program.sim.dt)


def _finite_or(value: float) -> float:
    return value if np.isfinite(value) else 0.0
