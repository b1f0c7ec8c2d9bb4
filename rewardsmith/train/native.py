"""The native CPU trainer: PPO whose environments are native MuJoCo stepped in batches (rewardsmith.env.sim).

One iteration: `rollout_steps` control steps of `num_envs` envs (numpy policy, batched MuJoCo, the reward program
on numpy arrays), then one jitted PPO update. Metrics reach the caller through `progress(step, metrics)`.
With cfg.stop_at_success, each checkpoint also runs a deterministic evaluation (success_judge) and training stops
once the task's success rate reaches cfg.stop_success_rate; the curve's last point says so.

Where the time goes (humanoid, 256 envs, 2 cores; CPU time measured per piece): per control step, the physics
~34 ms of CPU (~17 ms of wall on 2 threads, what raw stepping measures); Python ~0.5 ms (the policy and value
forward passes 0.15 ms with 64x64 networks, 0.36 ms with 128x128; state view + reward 0.12; observation 0.05;
noise 0.05; ~0.03 ms per reset env); the update ~94 ms of CPU per 8,192 samples with 64x64 networks at 5 epochs
(~2.9 ms per step), ~190 ms with 128x128 networks; it grows with epochs x network size (not with the minibatch
count, though small minibatches keep XLA on one thread). Other per-update work (GAE, normalizer, copies) is ~2 ms
per update. Run in turn with the rollout (cfg.overlap_update False), the update leaves a core idle while it runs:
on 2 idle cores `python -m rewardsmith.bench cpu` measured 0.81-0.82 of raw stepping's speed (7,983 vs 9,719 env
steps/s) while the ratio per CPU second was 0.92; the update, not Python, separated the trainer from raw stepping.

Hence the overlap (cfg.overlap_update): acting one update behind. JAX's CPU dispatch returns at once and XLA
computes the update on its own threads (tf_XLAEigen); meanwhile the next rollout is collected with the numpy
parameters from before that update, and the new parameters are fetched (the one blocking call) after it.
PPO stays correct because a batch stores the log-probabilities of the policy that acted (its behaviour policy):
the first epoch's importance ratios start one update off, and clipping bounds them. The observation normalizer
advances with the parameters (_Updates), so a policy acts with a normalizer of the same age as without the overlap,
and a batch holds the observations normalized as its behaviour policy saw them. A checkpoint fetches the newest
parameters (the curve's losses, the success judge, and the rollout after it acts with them, one iteration without
lag); the last update is waited for before the state is saved and the policy returned, and a continued training
starts with no update in flight. The NaN check runs on every fetched update before it acts (its message names the
update's step), the time budget after every dispatch. Two rollout buffers alternate: update i may still read
rollout i's arrays while rollout i+1 is written. With a checkpoint at every iteration the overlap path gives the
in-turn training bit for bit (nothing is ever in flight during a rollout).
What it buys, measured on busy shared cores (humanoid kneel, 4 updates of 8,192 steps, per-thread CPU time from
/proc): the wait for an update fell from 108-125 ms to ~2 ms per iteration and the process's CPU time stayed the
same (6.7-6.8 s either way), so the overlap costs no CPU; the wall-clock ratio to raw stepping on idle cores is
what `python -m rewardsmith.bench cpu` prints for both (not measured yet: the cores were busy).
What it costs: learning lags. Cart-pole balance, reference reward, success judged every 8,192 steps (`python -m
rewardsmith.bench learning --env cartpole --task balance`): steps to success on seeds 2-5 in turn 40,960 / 40,960 /
40,960 / 49,152 (median 40,960), overlapped 57,344 / 81,920 / 49,152 / 49,152 (median 53,248); seed 1 49,152 in
turn, not reached within 65,536 overlapped. Decoupled PPO (the clip around the update's starting policy, samples
weighted by pi_start / pi_behaviour capped at 2; Hilton et al. 2021) did not recover it (49,152 / 81,920 / 73,728 /
40,960). So the overlap is off by default until `bench learning` on humanoid kneel and hopper hop shows it learns
no worse there.
What else keeps the trainer near raw stepping:
- numpy's BLAS is single-threaded (limit_blas_threads): its threads spinning beside MuJoCo's and XLA's made the
  acting forward pass 40x slower and the trainer run at 0.16 of raw stepping speed;
- V(s_{t+1}) is values[t+1], computed anyway for the next step; only envs cut by the time limit (V of their final
  state, before the reset) and the rollout's last step (the bootstrap) need an extra value pass;
- the log-probability of the sampled action comes from the noise that made it (no second Gaussian evaluation);
- the update is compiled once per process and setting (ppo.make_update), and no eager JAX op runs per iteration
  (the update's PRNG key is made by numpy).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch
from rewardsmith.env.task import Task
from rewardsmith.program.load import LoadedReward
from rewardsmith.program.terminate import program_ends
from rewardsmith.records import CurvePoint
from rewardsmith.train.policy import Policy, Progress, TrainingStopped, TrainOutcome
from rewardsmith.train.ppo import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Batch,
    RunningMeanStd,
    flatten_batch,
    gae,
    inherited_params,
    init_params,
    limit_blas_threads,
    make_update,
    mlp,
    params_finite,
    to_numpy,
)
from rewardsmith.train.rollouts import evaluate
from rewardsmith.train.stats import EpisodeStats, reward_step


def train_native(
    env: EnvSpec,
    task: Task,
    reward: LoadedReward,
    cfg: TrainConfig,
    progress: Progress = lambda step, point: None,
    checkpoint: Path | None = None,
    start: Policy | None = None,
) -> TrainOutcome:
    """Trains for `cfg.steps` env steps in all. With `checkpoint`, a training state saved there by an earlier call
    is continued (its steps count toward cfg.steps), and the state is saved there at the end, so successive
    halving can train a candidate further. With `start` (evolve --inherit), a new training begins from that policy
    (inherit_state); a checkpoint, where there is one, wins: it holds what the training made of the start."""
    began = time.monotonic()
    sim = NativeBatch(env, task.name, cfg.num_envs, seed=cfg.seed)
    try:
        return _train(sim, env, task, reward, cfg, progress, began, checkpoint, start)
    finally:
        sim.close()


@dataclass
class _State:
    """What a continued training needs: network parameters (policy, value, log std), optimizer state, both
    normalizers, the sampling generator and the iterations done. Episodes in flight are not kept: a continued
    training starts fresh episodes."""

    params: Any
    opt_state: Any
    obs_rms: RunningMeanStd
    ret_rms: RunningMeanStd
    rng: np.random.Generator
    iteration: int
    curve: list[CurvePoint]
    succeeded: bool = False  # stopped early at success (cfg.stop_at_success): a continued training stays stopped


def save_state(path: Path, state: _State) -> None:
    leaves = jax.tree_util.tree_leaves((state.params, state.opt_state))
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    meta = {"iteration": state.iteration, "succeeded": state.succeeded, "rng": state.rng.bit_generator.state,
            "obs_rms": state.obs_rms.state(), "ret_rms": state.ret_rms.state(),
            "curve": [dataclasses.asdict(p) for p in state.curve]}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]  # numpy's stub
    tmp.replace(path)


def load_state(path: Path, fresh: _State) -> _State:
    """The state saved at `path`, shaped like `fresh` (made for the same env and settings)."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        treedef = jax.tree_util.tree_structure((fresh.params, fresh.opt_state))
        count = len(jax.tree_util.tree_leaves((fresh.params, fresh.opt_state)))
        if sum(1 for k in data.files if k.startswith("leaf_")) != count:
            raise TrainingStopped(f"the checkpoint {path.name} was made with other network settings; it cannot be "
                                  "continued")
        leaves = [jnp.asarray(data[f"leaf_{i}"]) for i in range(count)]
        params, opt_state = jax.tree_util.tree_unflatten(treedef, leaves)
    fresh.rng.bit_generator.state = meta["rng"]
    for rms, saved in ((fresh.obs_rms, meta["obs_rms"]), (fresh.ret_rms, meta["ret_rms"])):
        rms.mean, rms.var, rms.count = np.asarray(saved["mean"]), np.asarray(saved["var"]), saved["count"]
    curve = [CurvePoint.from_dict(p) for p in meta["curve"]]
    return _State(params, opt_state, fresh.obs_rms, fresh.ret_rms, fresh.rng, int(meta["iteration"]), curve,
                  bool(meta.get("succeeded", False)))


def _observe(sim: NativeBatch, env: EnvSpec) -> np.ndarray:
    raw = sim.raw()
    return np.asarray(env.observation(raw.qpos, raw.qvel, sim.sensors(), np), dtype=np.float64)


# The weight of an inherited observation normaliser, in observations. A policy is trained on normalised inputs: if the
# child's first rollouts (the narrow states of a policy that already does the task) move the normaliser much, the same
# network sees other inputs and its behaviour breaks. Measured on cart-pole (a parent at task score 1.0, 16 episodes,
# two seeds, value and action noise kept): weighed as one iteration (2,048 observations) the child scored 0.53 / 1.0
# after one update and 0.42 / 0.54 after four; weighed as 200,000, 0.77 / 1.0 and 0.71 / 1.0. A million: the child's
# own states have moved it halfway after a million steps.
INHERITED_OBSERVATIONS = 1_000_000


def inherit_state(state: _State, policy: Policy, cfg: TrainConfig) -> _State:
    """A fresh state that starts from `policy`: its networks (inherited_params) and its observation normaliser, weighed
    as INHERITED_OBSERVATIONS; the optimizer, the return normaliser, the iteration count and the curve stay fresh (the
    child's own bookkeeping)."""
    try:
        params = inherited_params(state.params, policy, cfg)
    except ValueError as err:
        raise TrainingStopped(str(err)) from None
    state.obs_rms.mean, state.obs_rms.var = np.asarray(policy.obs_mean, np.float64), np.asarray(policy.obs_var,
                                                                                                np.float64)
    state.obs_rms.count = float(INHERITED_OBSERVATIONS)
    return dataclasses.replace(state, params=params)


class _Updates:
    """The PPO updates of one training, each dispatched to XLA without waiting for it (JAX returns at once; the CPU
    backend computes on its own thread), and the observation normalizer, which advances with the parameters: the
    rollout an update learns from enters obs_rms when that update's parameters are fetched, so a policy acts with the
    normalizer of the same age (the rollouts before the batch it last learned from) with or without the overlap."""

    def __init__(self, update, params, opt_state, obs_rms: RunningMeanStd):
        self.update, self.params, self.opt_state, self.obs_rms = update, params, opt_state, obs_rms
        self.losses: dict = {}
        self._in_flight: tuple[np.ndarray, int] | None = None  # the raw observations of its batch, its step

    def dispatch(self, batch: Batch, key: np.ndarray, raw_obs: np.ndarray, step: int) -> None:
        """Starts the update on `batch` from the newest parameters (the previous update's, fetched or not)."""
        assert self._in_flight is None, "fetch the update in flight first: its normalizer update would be lost"
        self.params, self.opt_state, self.losses = self.update(self.params, self.opt_state, flatten_batch(batch), key)
        self._in_flight = (raw_obs, step)

    def fetch(self) -> dict | None:
        """Waits for the update in flight, if any, and returns its parameters as numpy arrays (None when none is in
        flight); stops the training if they are not finite."""
        if self._in_flight is None:
            return None
        raw_obs, step = self._in_flight
        self._in_flight = None
        p = to_numpy(self.params)  # waits for the update
        if not params_finite(p):
            raise TrainingStopped(f"policy parameters became NaN/Inf at step {step} (reward scale too large or "
                                  "non-finite rewards)")
        self.obs_rms.update(raw_obs.reshape(-1, raw_obs.shape[-1]))
        return p


def _buffers(T: int, n: int, obs_dim: int, act_dim: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One rollout's arrays (float32, [T, n, ...]) and its raw observations (float64)."""
    buf = {k: np.zeros((T, n) + shape, np.float32) for k, shape in
           [("obs", (obs_dim,)), ("actions", (act_dim,)), ("logp", ()), ("values", ()),
            ("next_values", ()), ("rewards", ()), ("terminated", ()), ("ends", ())]}
    return buf, np.zeros((T, n, obs_dim))


def _train(sim, env, task, reward, cfg, progress, start, checkpoint, start_policy=None) -> TrainOutcome:
    limit_blas_threads(1)
    n, T = cfg.num_envs, cfg.rollout_steps
    obs = _observe(sim, env)
    obs_dim, act_dim = obs.shape[1], sim.model.nu
    params = init_params(cfg.seed, obs_dim, act_dim, cfg)
    optimizer, update = make_update(cfg)
    state = _State(params, optimizer.init(params), RunningMeanStd(obs_dim), RunningMeanStd(),
                   np.random.default_rng(cfg.seed), 0, [])
    state.obs_rms.update(obs)
    if start_policy is not None:
        state = inherit_state(state, start_policy, cfg)
    if checkpoint is not None and checkpoint.is_file():
        state = load_state(checkpoint, state)
    obs_rms, ret_rms, rng = state.obs_rms, state.ret_rms, state.rng
    learner = _Updates(update, state.params, state.opt_state, obs_rms)
    first = state.iteration
    judge = success_judge(env, task, reward, cfg)
    succeeded = state.succeeded and judge is not None
    stats = EpisodeStats(reward.scales, task)
    ep_len = np.zeros(n, dtype=np.int64)
    discounted = np.zeros(n)
    no_termination = np.zeros(n, dtype=bool)
    iterations = cfg.whole_batch_steps // (n * T)
    checkpoint_every = max(1, iterations // cfg.checkpoints)
    curve = list(state.curve)
    # with the overlap, rollout i+1 is written while update i may still read rollout i's arrays: two sets, in turn
    sets = [_buffers(T, n, obs_dim, act_dim) for _ in range(2 if cfg.overlap_update else 1)]
    truncated = np.zeros((T, n), dtype=bool)
    p = to_numpy(learner.params)
    done = first if succeeded else max(first, iterations)  # iterations done when the loop ends
    for it in range(first, done):
        buf, raw_obs = sets[it % len(sets)]
        log_std = np.clip(p["log_std"], LOG_STD_MIN, LOG_STD_MAX)
        std = np.exp(log_std)
        logp_const = -float(np.sum(log_std)) - 0.5 * act_dim * np.log(2 * np.pi)
        for t in range(T):
            obs_n = obs_rms.normalize(obs)
            mean = mlp(p["policy"], obs_n, np)
            noise = rng.standard_normal(mean.shape, dtype=np.float32)
            action = mean + std * noise
            buf["obs"][t], buf["actions"][t], raw_obs[t] = obs_n, action, obs
            buf["logp"][t] = logp_const - 0.5 * np.sum(noise * noise, axis=-1)  # = gaussian_logp(mean, log_std, action)
            buf["values"][t] = mlp(p["value"], obs_n, np)[:, 0]
            sim.step(action)
            step_number = (it * T + t + 1) * n
            rewarded = reward_step(env, reward, sim, np.clip(action, -1, 1), step_number)
            total, s = rewarded.total, rewarded.s
            ep_len += 1
            own = np.asarray(task.terminate(s, np), dtype=bool) if task.terminate else no_termination
            # the program's own termination (evolve --evolve-termination), OR'ed in training only
            learned = program_ends(reward.terminate, s, np, (n,)) & ~own if reward.terminate else None
            terminated = own if learned is None else own | learned
            ends = terminated | (ep_len >= task.episode_steps)
            next_obs = _observe(sim, env)
            # V(s_{t+1}) is values[t+1] unless the episode was cut by the time limit here (then V of its final
            # state, before the reset) or this is the rollout's last step (the bootstrap value of every env).
            cut = ends & ~terminated if t < T - 1 else ~terminated
            truncated[t] = cut
            if cut.any():
                buf["next_values"][t, cut] = mlp(p["value"], obs_rms.normalize(next_obs[cut]), np)[:, 0]
            discounted = discounted * cfg.gamma + total
            ret_rms.update(discounted)
            buf["rewards"][t] = np.clip(total / np.sqrt(ret_rms.var + 1e-8), -10, 10)
            buf["terminated"][t], buf["ends"][t] = terminated, ends
            stats.add_step(s, rewarded.scaled, total, ends, learned)
            if ends.any():
                discounted[ends] = 0.0
                ep_len[ends] = 0
                sim.reset(ends)
                next_obs = _observe(sim, env) if ends.all() else np.where(ends[:, None], _observe(sim, env), next_obs)
            obs = next_obs
        buf["next_values"][:-1] = np.where(truncated[:-1], buf["next_values"][:-1], buf["values"][1:])
        adv, returns = gae(buf["rewards"], buf["values"], buf["next_values"], buf["terminated"], buf["ends"],
                           cfg.gamma, cfg.gae_lambda)
        batch = Batch(buf["obs"], buf["actions"], buf["logp"], adv.astype(np.float32), returns.astype(np.float32))
        key = rng.integers(0, 2**32, size=2, dtype=np.uint32)  # a raw JAX key, made without an eager JAX call
        p = learner.fetch() or p  # the previous update, computed during this rollout (overlap only)
        learner.dispatch(batch, key, raw_obs, (it + 1) * n * T)
        due = (it + 1) % checkpoint_every == 0 or it == iterations - 1
        if not cfg.overlap_update or due:  # a checkpoint judges and records the newest parameters
            p = learner.fetch() or p
        elapsed = time.monotonic() - start
        if elapsed > cfg.time_budget_s:
            raise TrainingStopped(f"training exceeded its time budget of {cfg.time_budget_s:.0f} s at step "
                                  f"{(it + 1) * n * T}")
        if due:
            loss_values: dict[str, float | None] = {k: float(v) for k, v in learner.losses.items()}
            point = stats.checkpoint((it + 1) * n * T, elapsed, loss_values)
            if judge is not None and point.step >= cfg.success_from_step:
                point, succeeded = judge(point, Policy(params=p, obs_mean=obs_rms.mean.copy(),
                                                       obs_var=obs_rms.var.copy()))
            curve.append(point)
            progress(point.step, point)
            if succeeded:
                done = it + 1
                break
    p = learner.fetch() or p  # the last update (none in flight after a checkpoint)
    if checkpoint is not None:
        save_state(checkpoint, _State(learner.params, learner.opt_state, obs_rms, ret_rms, rng, done, curve,
                                      succeeded))
    wall = time.monotonic() - start
    policy = Policy(params=p, obs_mean=obs_rms.mean.copy(), obs_var=obs_rms.var.copy())
    trained_now = max(0, done - first) * n * T  # a continued training counts only this call's steps per second
    return TrainOutcome(policy=policy, curve=curve, steps=done * n * T, wall_s=wall, steps_per_s=trained_now / wall,
                        reached_success=succeeded)


STOP_EVAL_SEED = 20_000  # + cfg.seed: the stop decision's episodes are not the final evaluation's (records.EVAL_SEED)
EVAL_SUCCESS, EVAL_FITNESS, STOPPED_AT_SUCCESS = "eval_success", "eval_fitness", "stopped_at_success"


def success_judge(env: EnvSpec, task: Task, reward: LoadedReward, cfg: TrainConfig):
    """With cfg.stop_at_success and a task that has a success threshold: judge(point, policy) -> (point, stop)
    runs a deterministic evaluation (rewardsmith.train.rollouts.evaluate, cfg.eval_episodes episodes), adds its
    success rate and task score to the point's extra (eval_success, eval_fitness, and stopped_at_success = 1 where
    it stops) and says whether the success rate reached cfg.stop_success_rate. None otherwise (nothing to judge)."""
    if not cfg.stop_at_success or task.fitness is None or task.success_threshold is None:
        return None

    def judge(point: CurvePoint, policy: Policy) -> tuple[CurvePoint, bool]:
        evaluation, _ = evaluate(env, task, reward, policy, cfg.eval_episodes, STOP_EVAL_SEED + cfg.seed,
                                 trace=False)
        rate = evaluation.success_rate or 0.0
        stop = rate >= cfg.stop_success_rate
        extra = {EVAL_SUCCESS: rate, EVAL_FITNESS: evaluation.fitness_mean}
        if stop:
            extra[STOPPED_AT_SUCCESS] = 1.0
        return dataclasses.replace(point, extra={**point.extra, **extra}), stop

    return judge
