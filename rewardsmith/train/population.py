"""The population trainer: a generation's K reward programs trained together in ONE jitted JAX program on MJX.

Layout: one MJX batch of K x N envs (N = cfg.num_envs per member), seen as K slices of N. Each slice's reward is
computed by its own member's program (each traced separately into the same program); the K policies, value
functions, optimizer states and normalizers are stacked on a leading K axis and updated with `vmap` of the same
PPO update the native trainer uses (ppo.make_update). Rollout, GAE and update of `iterations` PPO iterations run
under one `lax.fori_loop` per checkpoint ("chunk"), so the host touches the device once per checkpoint: the curve
comes from the training episodes themselves (per-term sums, fitness, length), not from a separate evaluation.

A member whose reward turns non-finite (in envs whose physics is finite) or whose parameters do is masked: its
parameters stop changing, its rewards count as 0, and it fails with its reason while the others go on. Physics
that diverges in an env (float32 MJX can) ends that env's episode with nothing paid, as native MuJoCo resets a
diverged simulation. A masked or stopped member's slice keeps stepping until the job ends (the batch keeps its
shape, so nothing recompiles); successive halving re-lays the batch between rungs instead (a new job with the
survivors: one compile per rung).

The deterministic evaluation of all members runs batched at the end, in a second jitted function (popeval.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.quiet_mjx import import_mjx
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import sensor_slices, split_sensors
from rewardsmith.env.task import Task
from rewardsmith.program.compose import compose
from rewardsmith.program.load import LoadedReward
from rewardsmith.program.terminate import LEARNED_END, LEARNED_TERMINATION, program_ends
from rewardsmith.records import CurvePoint, term_key
from rewardsmith.train.policy import Policy
from rewardsmith.train.ppo import LOG_STD_MAX, LOG_STD_MIN, init_params, make_update, mlp

mjx = import_mjx()  # without the Warp backend's two lines (env/quiet_mjx.py)

INIT_BANK = 1024  # reset states drawn from a bank made by the env's own numpy initial_state (as the mjx trainer)
OBS_CLIP, REWARD_CLIP = 10.0, 10.0  # as the native trainer
PARAMS_NON_FINITE = -2  # Learner.bad code: the parameters became NaN/Inf (else the index of the bad reward term)


@dataclass(frozen=True)
class Member:
    """One slice of the population: a reward program and the seed of its training."""

    key: str
    reward: LoadedReward
    seed: int
    start: Policy | None = None  # the policy it starts from (evolve --inherit), unless a checkpoint continues it


class Sim:
    """The env on MJX as pure functions over a batched mjx.Data (the same MJCF, state view and observation as the
    native trainer, written against jax.numpy)."""

    def __init__(self, env: EnvSpec, task: Task, seed: int, bank: int = INIT_BANK):
        self.env, self.task = env, task
        mj_model = mujoco.MjModel.from_xml_path(str(env.model_path))
        self.model = mjx.put_model(mj_model)
        self.nu = int(mj_model.nu)
        self.dt = float(mj_model.opt.timestep * env.frame_skip)
        self.slices = sensor_slices(mj_model)
        self.mj_model = mj_model
        qpos, qvel = env.initial_state(np.random.default_rng(seed), mj_model.qpos0.copy(), bank, task.name)
        self.bank_size = bank
        self.bank = self.start_states(qpos, qvel)
        self.bank_obs = self.observe(self.bank)  # what a reset env observes first: no observation pass per step

    def start_states(self, qpos, qvel):
        """Batched mjx.Data at these qpos/qvel. Native MuJoCo's mj_forward computes each state's sensors; the rest
        is mjx.make_data's template, since mjx.step recomputes every derived quantity from qpos/qvel. Compiling a
        batched mjx.forward instead took 3 minutes for the humanoid on 2 busy cores, longer than whole trainings."""
        qpos, qvel = np.asarray(qpos, np.float64), np.asarray(qvel, np.float64)
        native = mujoco.MjData(self.mj_model)
        sensors = np.zeros((len(qpos), self.mj_model.nsensordata))
        for i in range(len(qpos)):
            native.qpos[:], native.qvel[:] = qpos[i], qvel[i]
            mujoco.mj_forward(self.mj_model, native)
            sensors[i] = native.sensordata
        template = mjx.make_data(self.model)
        batch = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (len(qpos), *jnp.shape(a))), template)
        return batch.replace(qpos=jnp.asarray(qpos, jnp.float32), qvel=jnp.asarray(qvel, jnp.float32),
                             sensordata=jnp.asarray(sensors, jnp.float32))

    def reset_where(self, ends, index, data):
        """`data` with the envs where `ends` restarted from bank states `index`. Only what the next step and the
        observation read is copied (mjx.step recomputes every derived quantity from qpos/qvel): gathering whole
        mjx.Data rows (contacts, constraint Jacobians) each step would move far more memory than the step itself."""
        ends = ends.reshape(-1)
        fields = ("qpos", "qvel", "act", "ctrl", "qacc_warmstart", "sensordata", "time")
        fresh = {f: getattr(self.bank, f)[index.reshape(-1)] for f in fields}
        return data.replace(**{f: jnp.where(ends.reshape(ends.shape + (1,) * (fresh[f].ndim - 1)), fresh[f],
                                            getattr(data, f)) for f in fields})

    def draw(self, index):
        """Bank states at `index` (any batch shape flattened to one axis)."""
        return jax.tree_util.tree_map(lambda a: a[index.reshape(-1)], self.bank)

    def step(self, data, ctrl):
        """One control step of the whole batch (frame_skip physics steps)."""
        def one(d, c):
            d = d.replace(ctrl=c)
            return jax.lax.fori_loop(0, self.env.frame_skip, lambda _, x: mjx.step(self.model, x), d)
        return jax.vmap(one)(data, ctrl)

    def view(self, data) -> dict:
        return self.env.state_view(data.qpos, data.qvel, split_sensors(data.sensordata, self.slices), jnp)

    def observe(self, data):
        return self.env.observation(data.qpos, data.qvel, split_sensors(data.sensordata, self.slices), jnp)


def strong(tree):
    """Every leaf with an explicit dtype, which drops JAX's weak type."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.asarray(a).dtype), tree)


def diverged(data):
    return ~(jnp.all(jnp.isfinite(data.qpos), axis=-1) & jnp.all(jnp.isfinite(data.qvel), axis=-1))


def slice_view(s: dict, k: int, K: int, N: int) -> dict:
    """Member k's part of a state view computed over the whole K*N batch (batch-first arrays are split; anything
    else, a constant, is shared)."""
    def part(a):
        a = jnp.asarray(a)
        return a.reshape(K, N, *a.shape[1:])[k] if a.ndim and a.shape[0] == K * N else a
    return {name: part(value) for name, value in s.items()}


class Learner(NamedTuple):
    """Everything learned, stacked over the K members."""

    params: Any
    opt_state: Any
    obs_mean: Any  # [K, obs]
    obs_var: Any
    obs_count: Any  # [K]
    ret_mean: Any  # [K] running statistics of the discounted return: rewards are scaled by its std
    ret_var: Any
    ret_count: Any
    live: Any  # [K] bool: still learning (not masked, not stopped)
    bad: Any  # [K] int32: -1, a bad term's index, or PARAMS_NON_FINITE
    iteration: Any  # [K] int32: PPO iterations done


class Envs(NamedTuple):
    data: Any  # batched mjx.Data, K*N
    obs: Any  # [K, N, obs] raw observations
    length: Any  # [K, N]
    discounted: Any  # [K, N] discounted return so far (reward scaling)
    sums: list  # per member: {metric key: [N]} sums of the running episodes


def running_update(mean, var, count, batch):
    """Chan et al.'s parallel mean/variance update with a batch [M, ...] (one member's)."""
    b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
    delta, total = b_mean - mean, count + b_count
    new_mean = mean + delta * b_count / total
    m2 = var * count + b_var * b_count + delta**2 * count * b_count / total
    return new_mean, m2 / total, total


def normalize(obs, mean, var):
    return jnp.clip((obs - mean) / jnp.sqrt(var + 1e-8), -OBS_CLIP, OBS_CLIP)


def episode_keys(reward: LoadedReward) -> list[str]:
    return ["return", "length", "fitness", *map(term_key, reward.scales)] + ([LEARNED_END] if reward.terminate else [])


class Program:
    """The jitted population program for one env, task, member list and TrainConfig."""

    def __init__(self, sim: Sim, members: list[Member], cfg: TrainConfig):
        self.sim, self.members, self.cfg = sim, members, cfg
        self.K, self.N, self.T = len(members), cfg.num_envs, cfg.rollout_steps
        self.optimizer, self.update = make_update(cfg)
        self.chunk = jax.jit(self._chunk)

    # -- setting up --------------------------------------------------------------------------------------------
    def start(self) -> tuple[Learner, Envs]:
        """Fresh learners and envs: one compiled call (eagerly, its dozens of small ops compiled one by one),
        strongly typed so that the chunk compiles once (a weak-typed input on the first call and the same leaf
        strongly typed on every later one compiles it twice, as Brax's evaluation was)."""
        return strong(jax.jit(self._start)())

    def _start(self) -> tuple[Learner, Envs]:
        K, N = self.K, self.N
        data = self.sim.draw(jax.vmap(lambda k: jax.random.randint(k, (N,), 0, self.sim.bank_size))(self._keys(0)))
        obs = self.sim.observe(data).reshape(K, N, -1)
        per_member = [init_params(m.seed, obs.shape[-1], self.sim.nu, self.cfg) for m in self.members]
        params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *per_member)
        obs_mean, obs_var, obs_count = jax.vmap(running_update)(
            jnp.zeros((K, obs.shape[-1])), jnp.ones((K, obs.shape[-1])), jnp.full(K, 1e-4), obs)
        learner = Learner(params, jax.vmap(self.optimizer.init)(params), obs_mean, obs_var, obs_count,
                          jnp.zeros(K), jnp.ones(K), jnp.full(K, 1e-4), jnp.ones(K, bool), jnp.full(K, -1, jnp.int32),
                          jnp.zeros(K, jnp.int32))
        return learner, self.fresh_envs(data, obs)

    def fresh_envs(self, data, obs) -> Envs:
        K, N = self.K, self.N
        sums = [{k: jnp.zeros(N) for k in episode_keys(m.reward)} for m in self.members]
        return Envs(data, obs, jnp.zeros((K, N), jnp.int32), jnp.zeros((K, N)), sums)

    def _keys(self, salt):
        """One PRNG key per member, from its own seed: a member draws the same numbers in any population."""
        seeds = jnp.asarray([m.seed for m in self.members], jnp.uint32)
        return jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), salt))(seeds)

    # -- one control step of every env -------------------------------------------------------------------------
    def member_rewards(self, s: dict, action, broken, n: int):
        """Per member (the view split into K slices of n envs): total [n], scaled terms, raw terms and the index of
        its first non-finite term (-1: none). Non-finite values and diverged envs pay 0."""
        totals, scaled_all, raw_all, bad = [], [], [], []
        for k, member in enumerate(self.members):
            raw = member.reward.reward_terms(slice_view(s, k, self.K, n), action[k], jnp)
            _, scaled = compose(member.reward.scales, raw, jnp, (n,), jnp.float32)
            finite = [jnp.all(jnp.isfinite(v) | broken[k]) for v in scaled.values()]
            first = jnp.argmin(jnp.asarray([*finite, False]))  # the first False; len(terms) when all are finite
            bad.append(jnp.where(first < len(finite), first, -1).astype(jnp.int32))
            ok = {name: jnp.isfinite(v) & ~broken[k] for name, v in scaled.items()}
            scaled = {name: jnp.where(ok[name], v, 0.0) for name, v in scaled.items()}
            raw_all.append({name: jnp.where(ok[name], jnp.broadcast_to(jnp.asarray(raw[name], jnp.float32), (n,)),
                                            0.0) for name in scaled})
            totals.append(sum(scaled.values(), jnp.zeros(n)))
            scaled_all.append(scaled)
        return jnp.stack(totals), scaled_all, raw_all, jnp.stack(bad)

    def _env_step(self, learner: Learner, member_keys, carry, t):
        envs, finished, bad = carry
        K, N, task = self.K, self.N, self.sim.task
        keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t)))(member_keys)  # [K, 2, key]
        obs_n = jax.vmap(normalize)(envs.obs, learner.obs_mean, learner.obs_var)
        mean = jax.vmap(lambda p, o: mlp(p, o, jnp))(learner.params["policy"], obs_n)
        value = jax.vmap(lambda p, o: mlp(p, o, jnp))(learner.params["value"], obs_n)[..., 0]
        log_std = jnp.clip(learner.params["log_std"], LOG_STD_MIN, LOG_STD_MAX)  # [K, act]
        noise = jax.vmap(lambda k: jax.random.normal(k, (N, self.sim.nu)))(keys[:, 0])
        action = mean + jnp.exp(log_std)[:, None, :] * noise
        logp = (-jnp.sum(log_std, -1) - 0.5 * self.sim.nu * math.log(2 * math.pi))[:, None] - 0.5 * jnp.sum(
            noise**2, -1)
        clipped = jnp.clip(action, -1.0, 1.0)
        data = self.sim.step(envs.data, clipped.reshape(K * N, -1))
        broken = diverged(data)
        s = self.sim.view(data)
        total, scaled, _, step_bad = self.member_rewards(s, clipped, broken.reshape(K, N), N)
        bad = jnp.where(bad < 0, step_bad, bad)
        terminated = (task.terminate(s, jnp) if task.terminate else jnp.zeros(K * N, bool)) | broken
        fitness = jnp.where(broken, 0.0, task.fitness(s, jnp)) if task.fitness else jnp.zeros(K * N)
        terminated, fitness = terminated.reshape(K, N), fitness.reshape(K, N).astype(jnp.float32)
        learned = self.member_ends(s, terminated)  # training only: the evaluation (population_eval.py) keeps the task's
        terminated = terminated | learned
        length = envs.length + 1
        ends = terminated | (length >= task.episode_steps)
        next_obs = jnp.where(broken[:, None], 0.0, self.sim.observe(data)).reshape(K, N, -1)
        next_value = jax.vmap(lambda p, o: mlp(p, o, jnp))(
            learner.params["value"], jax.vmap(normalize)(next_obs, learner.obs_mean, learner.obs_var))[..., 0]
        sums, finished = self._episode_sums(envs.sums, finished, total, fitness, scaled, ends, learned)
        index = jax.vmap(lambda k: jax.random.randint(k, (N,), 0, self.sim.bank_size))(keys[:, 1])
        data = self.sim.reset_where(ends, index, data)
        obs = jnp.where(ends[..., None], self.sim.bank_obs[index.reshape(-1)].reshape(K, N, -1), next_obs)
        discounted = envs.discounted * self.cfg.gamma + total
        raw_obs = envs.obs
        envs = Envs(data, obs, jnp.where(ends, 0, length), jnp.where(ends, 0.0, discounted), sums)
        # the normalizer learns from what the policy saw (as the native trainer's raw_obs)
        step = {"obs": obs_n, "raw_obs": raw_obs, "actions": action, "logp": logp,
                "values": value, "next_values": next_value, "rewards": total, "discounted": discounted,
                "terminated": terminated.astype(jnp.float32), "ends": ends.astype(jnp.float32)}
        return (envs, finished, bad), step

    def member_ends(self, s: dict, own):
        """[K, N]: where a member's own terminate (evolve --evolve-termination) ends an episode the task's `own`
        termination does not (False for a member without one)."""
        return jnp.stack([program_ends(m.reward.terminate, slice_view(s, k, self.K, self.N), jnp, (self.N,)) & ~own[k]
                          if m.reward.terminate else jnp.zeros(self.N, bool) for k, m in enumerate(self.members)])

    def _episode_sums(self, sums, finished, total, fitness, scaled, ends, learned):
        new_sums, new_finished = [], []
        for k in range(self.K):
            add = {"return": total[k], "length": jnp.ones(self.N), "fitness": fitness[k],
                   LEARNED_END: learned[k].astype(jnp.float32),
                   **{term_key(t): v for t, v in scaled[k].items()}}
            running = {key: sums[k][key] + add[key] for key in sums[k]}
            done = ends[k].astype(jnp.float32)
            new_finished.append({key: finished[k][key] + jnp.sum(running[key] * done) for key in running}
                                | {"episodes": finished[k]["episodes"] + jnp.sum(done)})
            new_sums.append({key: jnp.where(ends[k], 0.0, v) for key, v in running.items()})
        return new_sums, new_finished

    # -- one PPO iteration of every member ---------------------------------------------------------------------
    def _iteration(self, i, carry):
        learner, envs, finished, losses, base = carry
        keys = jax.vmap(lambda k: jax.random.fold_in(k, base + i))(self._keys(1))
        (envs, finished, bad), traj = jax.lax.scan(
            lambda c, t: self._env_step(learner, keys, c, t), (envs, finished, learner.bad), jnp.arange(self.T))
        bad = jnp.where(learner.live, bad, learner.bad)  # a stopped member's slice steps on, unjudged
        ret_mean, ret_var, ret_count = jax.vmap(running_update)(
            learner.ret_mean, learner.ret_var, learner.ret_count, jnp.swapaxes(traj["discounted"], 0, 1).reshape(
                self.K, -1))
        rewards = jnp.clip(traj["rewards"] / jnp.sqrt(ret_var + 1e-8)[None, :, None], -REWARD_CLIP, REWARD_CLIP)
        advantages, returns = gae(rewards, traj["values"], traj["next_values"], traj["terminated"], traj["ends"],
                                  self.cfg.gamma, self.cfg.gae_lambda)
        obs_mean, obs_var, obs_count = jax.vmap(running_update)(
            learner.obs_mean, learner.obs_var, learner.obs_count,
            jnp.swapaxes(traj["raw_obs"], 0, 1).reshape(self.K, -1, traj["raw_obs"].shape[-1]))

        def per_member(a):  # [T, K, N, ...] -> [K, T*N, ...]
            return jnp.swapaxes(a, 0, 1).reshape(self.K, self.T * self.N, *a.shape[3:])
        batch = {"obs": per_member(traj["obs"]), "actions": per_member(traj["actions"]),
                 "logp": per_member(traj["logp"]), "advantages": per_member(advantages),
                 "returns": per_member(returns)}
        update_keys = jax.vmap(lambda k: jax.random.fold_in(k, 3))(keys)
        params, opt_state, metrics = jax.vmap(self.update)(learner.params, learner.opt_state, batch, update_keys)
        finite = jax.vmap(lambda p: jnp.all(jnp.asarray(
            [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(p)])))(params)
        bad = jnp.where((bad < 0) & ~finite, PARAMS_NON_FINITE, bad)
        live = learner.live & (bad < 0)

        def keep(new, old):
            return jax.tree_util.tree_map(
                lambda a, b: jnp.where(live.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)
        learner = Learner(keep(params, learner.params), keep(opt_state, learner.opt_state),
                          keep(obs_mean, learner.obs_mean), keep(obs_var, learner.obs_var),
                          keep(obs_count, learner.obs_count), keep(ret_mean, learner.ret_mean),
                          keep(ret_var, learner.ret_var), keep(ret_count, learner.ret_count), live, bad,
                          learner.iteration + live.astype(jnp.int32))
        return learner, envs, finished, keep(metrics, losses), base

    def _chunk(self, learner: Learner, envs: Envs, base, iterations):
        """`iterations` PPO iterations (a traced count: every chunk, whatever its length, is one compile); returns
        the sums over the episodes that finished in it and the last losses."""
        finished = [{key: jnp.zeros(()) for key in [*episode_keys(m.reward), "episodes"]} for m in self.members]
        losses = {k: jnp.zeros(self.K) for k in ("policy_loss", "value_loss", "entropy", "approx_kl")}
        learner, envs, finished, losses, _ = jax.lax.fori_loop(
            0, iterations, self._iteration, (learner, envs, finished, losses, base))
        return learner, envs, finished, losses


def gae(rewards, values, next_values, terminated, ends, gamma, lam):
    """GAE over [T, ...] arrays, as ppo.gae (next_values[t] = V of the state step t reached, before a reset)."""
    def back(last, t):
        delta = rewards[t] + gamma * next_values[t] * (1.0 - terminated[t]) - values[t]
        last = delta + gamma * lam * (1.0 - ends[t]) * last
        return last, last
    _, adv = jax.lax.scan(back, jnp.zeros_like(rewards[0]), jnp.arange(rewards.shape[0]), reverse=True)
    return adv, adv + values


def curve_points(program: Program, envs: Envs, finished, losses, steps: list[int], wall_s: float,
                 extra: dict[str, Any]) -> list[CurvePoint]:
    """One CurvePoint per member: means over the episodes that finished in the chunk, or over the running ones
    where none finished (as the native trainer's EpisodeStats); the episode length only from finished episodes
    (None where none finished: a running episode's length is how far it has got)."""
    finished, losses, running = jax.device_get((finished, losses, envs.sums))
    points = []
    for k, member in enumerate(program.members):
        count = float(finished[k]["episodes"])
        sums = {key: float(v) for key, v in finished[k].items()} if count else \
            {key: float(np.sum(v)) for key, v in running[k].items()}
        count = count or float(program.N)

        def mean(key: str, sums: dict = sums, count: float = count) -> float | None:
            value = sums[key] / count
            return value if math.isfinite(value) else None
        fitness = mean("fitness") if program.sim.task.fitness else None
        points.append(CurvePoint(
            step=steps[k], episodes=int(finished[k]["episodes"]), episode_return=mean("return"),
            episode_length=mean("length") if finished[k]["episodes"] else None,
            fitness=None if fitness is None else fitness / program.sim.task.episode_steps,
            terms={t: mean(term_key(t)) for t in member.reward.scales},
            losses={name: _finite(float(v[k])) for name, v in losses.items()}, wall_s=wall_s,
            extra={**extra, **({LEARNED_TERMINATION: mean(LEARNED_END) if finished[k]["episodes"] else None}
                               if LEARNED_END in sums else {})}))
    return points


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def bad_reason(member: Member, code: int, step: int) -> str:
    if code == PARAMS_NON_FINITE:
        return (f"policy parameters became NaN/Inf by step {step} (reward scale too large or non-finite rewards)")
    term = list(member.reward.scales)[code]
    return f"reward term {term!r} returned NaN/Inf by step {step} (masked; the other candidates went on)"


def run_chunks(program: Program, learner: Learner, envs: Envs, iterations: int, checkpoints: int,
               on_chunk: Callable[[Learner, list[CurvePoint]], Learner], time_budget_s: float,
               start: float) -> tuple[Learner, Envs]:
    """Trains the live members (all at the same iteration: a population starts together, or continues together
    from one halving rung) to `iterations` iterations in `checkpoints` chunks, calling on_chunk(learner, points)
    after each (which may stop members by clearing their `live` flag)."""
    live = np.asarray(learner.live)  # members stopped at success in an earlier rung stay where they are
    done = int(np.max(np.asarray(learner.iteration)[live])) if live.any() else iterations
    per_chunk = max(1, (iterations - done) // max(1, checkpoints))
    key_base = done
    while done < iterations and bool(np.any(np.asarray(learner.live))):
        count = min(per_chunk, iterations - done)
        learner, envs, finished, losses = program.chunk(learner, envs, jnp.int32(key_base), jnp.int32(count))
        done, key_base = done + count, key_base + count
        wall = time.monotonic() - start
        steps = [int(i) * program.N * program.T for i in np.asarray(learner.iteration)]
        points = curve_points(program, envs, finished, losses, steps, wall,
                              {"population": float(program.K)})
        learner = on_chunk(learner, points)
        if wall > time_budget_s:
            break
    return learner, envs
