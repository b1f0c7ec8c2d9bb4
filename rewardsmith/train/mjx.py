"""The MJX trainer: Brax PPO on MJX, the fast path on a GPU (all envs, the reward and PPO stay on the device).

The env is the same MJCF, state view, observation and reward as the native trainer, written against jax.numpy;
initial states are drawn from a bank made by the env's own numpy `initial_state`, so both backends start from
the same distribution. The trained Brax policy is converted to rewardsmith's Policy, so evaluation, filming and
export do not care which trainer produced it.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.quiet_mjx import import_mjx
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import sensor_slices, split_sensors
from rewardsmith.env.task import Task
from rewardsmith.errors import RewardsmithError
from rewardsmith.program.compose import compose
from rewardsmith.program.load import LoadedReward
from rewardsmith.program.terminate import LEARNED_END, LEARNED_TERMINATION, program_ends
from rewardsmith.records import CurvePoint, term_key
from rewardsmith.train.policy import Policy, Progress, TrainingStopped, TrainOutcome

mjx = import_mjx()  # without the Warp backend's two lines (env/quiet_mjx.py)

INIT_BANK = 4096


class MjxBackendError(RewardsmithError, RuntimeError):
    """JAX cannot run MJX here (no usable backend); the message says what was found."""


def _install_jax_compat() -> None:
    """Brax PPO replicates its training state with jax.device_put_replicated before the first pmapped epoch. Its
    observation normalizer holds a Python float (std_eps), a weak-typed scalar there, which the epoch returns
    strongly typed: the epoch and the evaluation were each compiled twice (~45 s each for the humanoid on an H100;
    jax's explain-cache-misses names std_eps). Replicating with every leaf strongly typed, through an identity
    pmap so the first epoch sees the arrays every later one sees, leaves one compile each. It also stands in for
    the call where jax no longer has it (removed in jax 0.10; brax 0.14.2 still calls it)."""
    if getattr(jax, "_rewardsmith_replicated", False):
        return

    def device_put_replicated(tree, devices):
        def strong(a):
            a = jnp.asarray(a)
            return jnp.asarray(a, dtype=a.dtype)  # an explicit dtype drops the weak type

        stacked = jax.tree_util.tree_map(lambda a: jnp.stack([strong(a)] * len(devices)), tree)
        return jax.pmap(lambda t: t, devices=devices)(stacked)

    jax.device_put_replicated = device_put_replicated
    jax._rewardsmith_replicated = True  # type: ignore[attr-defined]


def _brax():
    _install_jax_compat()
    from brax.envs import base as brax_base
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    return brax_base, ppo, ppo_networks


def make_env(env: EnvSpec, task: Task, reward: LoadedReward, seed: int):
    brax_base, _, _ = _brax()
    mj_model = mujoco.MjModel.from_xml_path(str(env.model_path))
    qpos0, qvel0 = env.initial_state(np.random.default_rng(seed), mj_model.qpos0.copy(), INIT_BANK, task.name)
    slices = sensor_slices(mj_model)
    scales = dict(reward.scales)

    class MjxTaskEnv(brax_base.Env):  # type: ignore[name-defined]  # brax_base is imported lazily
        def __init__(self):
            self.sys = mjx.put_model(mj_model)
            self._qpos0, self._qvel0 = jnp.asarray(qpos0, jnp.float32), jnp.asarray(qvel0, jnp.float32)

        @property
        def observation_size(self):
            return int(np.asarray(env.observation(qpos0[0], qvel0[0], _zero_sensors(mj_model, slices), np)).shape[-1])

        @property
        def action_size(self):
            return mj_model.nu

        @property
        def backend(self):
            return "mjx"

        def _view(self, data):
            return env.state_view(data.qpos, data.qvel, split_sensors(data.sensordata, slices), jnp)

        def _obs(self, data):
            return env.observation(data.qpos, data.qvel, split_sensors(data.sensordata, slices), jnp)

        def reset(self, rng):
            i = jax.random.randint(rng, (), 0, INIT_BANK)
            data = mjx.make_data(self.sys).replace(qpos=self._qpos0[i], qvel=self._qvel0[i])
            data = mjx.forward(self.sys, data)
            metrics = {term_key(k): jnp.zeros(()) for k in scales}
            metrics |= {"fitness": jnp.zeros(()), "diverged": jnp.zeros(())}
            metrics |= {LEARNED_END: jnp.zeros(())} if reward.terminate else {}
            return brax_base.State(data, self._obs(data), jnp.zeros(()), jnp.zeros(()), metrics, {})

        def step(self, state, action):
            data = state.pipeline_state.replace(ctrl=action)
            data = jax.lax.fori_loop(0, env.frame_skip, lambda _, d: mjx.step(self.sys, d), data)
            s = self._view(data)
            # A float32 physics blow-up (non-finite qpos/qvel) ends the episode with nothing paid, as native
            # MuJoCo resets a diverged simulation; one NaN reward would otherwise poison the whole batch (and
            # Brax's evaluation sums reward x active, where NaN x 0 is NaN).
            diverged = ~(jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel)))
            _, scaled = compose(scales, reward.reward_terms(s, action, jnp), jnp, (), jnp.float32)
            scaled = {k: jnp.where(diverged, 0.0, v) for k, v in scaled.items()}
            own = task.terminate(s, jnp) if task.terminate else jnp.zeros((), bool)
            # the program's own termination (evolve --evolve-termination) ends training episodes too; Brax's curve
            # comes from this env, the candidate's evaluation (train/rollouts.py) keeps the task's termination
            learned = program_ends(reward.terminate, s, jnp, ()) & ~own if reward.terminate else None
            done = (own if learned is None else own | learned).astype(jnp.float32)
            fitness = task.fitness(s, jnp).astype(jnp.float32) if task.fitness else jnp.zeros(())
            metrics = {**state.metrics, **{term_key(k): v for k, v in scaled.items()},
                       "fitness": jnp.where(diverged, 0.0, fitness), "diverged": diverged.astype(jnp.float32)}
            metrics |= {LEARNED_END: learned.astype(jnp.float32)} if learned is not None else {}
            obs = jnp.where(diverged, 0.0, self._obs(data))
            total = sum(scaled.values())
            done = jnp.where(diverged, 1.0, done)
            return state.replace(pipeline_state=data, obs=obs, reward=total, done=done, metrics=metrics)

    return MjxTaskEnv()


def _zero_sensors(model, slices):
    return split_sensors(np.zeros(model.nsensordata), slices)


def brax_settings(cfg: TrainConfig, env: EnvSpec) -> dict:
    """Brax PPO arguments: rewardsmith's TrainConfig, then the env's PPO_MJX overrides (GPU-sized batches)."""
    settings = {
        "num_envs": cfg.num_envs,
        "unroll_length": cfg.rollout_steps,
        "batch_size": cfg.num_envs,
        "num_minibatches": cfg.minibatches,
        "num_updates_per_batch": cfg.epochs,
        "learning_rate": cfg.learning_rate,
        "entropy_cost": cfg.entropy_coef,
        "discounting": cfg.gamma,
        "gae_lambda": cfg.gae_lambda,
        "clipping_epsilon": cfg.clip,
        "max_grad_norm": cfg.max_grad_norm,
        "hidden": cfg.hidden,
    }
    settings.update(env.ppo_mjx)
    return settings


def check_backend() -> str:
    try:
        return jax.default_backend()
    except RuntimeError as err:  # pragma: no cover - depends on the machine
        raise MjxBackendError(f"--trainer mjx needs a working JAX backend: {err}") from None


def train_mjx(env: EnvSpec, task: Task, reward: LoadedReward, cfg: TrainConfig,
              progress: Progress = lambda step, point: None, checkpoint: Path | None = None,
              start: Policy | None = None) -> TrainOutcome:
    """Brax PPO for cfg.steps env steps. `checkpoint` (continuing a training) and `start` (evolve --inherit) are not
    supported by this trainer yet: Brax restores parameters but not the optimizer state, so a continued training
    would not be the same training."""
    if checkpoint is not None or start is not None:
        raise TrainingStopped("the mjx trainer cannot continue a training or start from another policy; use "
                              "--trainer native")
    check_backend()
    _, ppo, ppo_networks = _brax()
    settings = brax_settings(cfg, env)
    hidden = tuple(settings.pop("hidden"))
    network_factory = functools.partial(ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=hidden,
                                        value_hidden_layer_sizes=hidden)
    began = time.monotonic()
    curve: list[CurvePoint] = []

    def on_progress(step: int, metrics) -> None:
        if "eval/episode_reward" not in metrics:
            return
        point = _curve_point(step, metrics, reward.scales, task, time.monotonic() - began)
        if point.episode_return is None:
            raise TrainingStopped(f"episode return became NaN/Inf at step {step} (non-finite reward or parameters)")
        if point.wall_s > cfg.time_budget_s:
            raise TrainingStopped(f"training exceeded its time budget of {cfg.time_budget_s:.0f} s at step {step}")
        curve.append(point)
        progress(step, point)

    make_policy, params, _ = ppo.train(
        environment=make_env(env, task, reward, cfg.seed), num_timesteps=cfg.steps,
        episode_length=task.episode_steps, num_evals=cfg.checkpoints + 1, num_eval_envs=cfg.eval_episodes,
        normalize_observations=True, deterministic_eval=True, seed=cfg.seed, progress_fn=on_progress,
        network_factory=network_factory, **settings,
    )
    del make_policy
    policy = policy_from_brax(params)
    if not all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree_util.tree_leaves(policy.params)):
        raise TrainingStopped("policy parameters became NaN/Inf (reward scale too large or non-finite rewards)")
    wall = time.monotonic() - began
    steps = curve[-1].step if curve else cfg.steps
    return TrainOutcome(policy=policy, curve=curve[1:] or curve, steps=steps, wall_s=wall, steps_per_s=steps / wall)


def _curve_point(step: int, metrics, scales: dict, task: Task, wall_s: float) -> CurvePoint:
    def value(key: str) -> float | None:
        number = float(np.asarray(metrics[key]))
        return number if np.isfinite(number) else None

    fitness = value("eval/episode_fitness") if task.fitness else None
    return CurvePoint(
        step=int(step),
        episodes=None,
        episode_return=value("eval/episode_reward"),
        episode_length=value("eval/avg_episode_length"),
        fitness=None if fitness is None else fitness / task.episode_steps,
        terms={k: value(f"eval/episode_{term_key(k)}") for k in scales},
        wall_s=wall_s,
        # evaluation episodes ended by a physics blow-up; Brax's own timings: training env steps/s of the last
        # epoch (the first includes its compile) and the seconds the evaluation took
        extra={"diverged_fraction": value("eval/episode_diverged"),
               "train_sps": value("training/sps") if "training/sps" in metrics else None,
               "eval_s": value("eval/epoch_eval_time"),
               # the share of Brax's evaluation episodes the program's own termination ended
               **({LEARNED_TERMINATION: value(f"eval/episode_{LEARNED_END}")}
                  if f"eval/episode_{LEARNED_END}" in metrics else {})},
    )


def policy_from_brax(params) -> Policy:
    """(normalizer, policy, value) Brax params -> Policy: swish MLP whose first outputs are the tanh-squashed mean."""
    normalizer, policy_params = params[0], params[1]
    dense = policy_params["params"]
    layers = [{"w": np.asarray(dense[f"hidden_{i}"]["kernel"], np.float32),
               "b": np.asarray(dense[f"hidden_{i}"]["bias"], np.float32)}
              for i in range(sum(1 for k in dense if k.startswith("hidden_")))]
    std = np.asarray(normalizer.std, np.float64)
    return Policy(params={"policy": layers, "value": [], "log_std": np.zeros(0, np.float32)},
                  obs_mean=np.asarray(normalizer.mean, np.float64), obs_var=std**2,
                  activation="swish", squash=True, obs_clip=None)
