"""PPO pieces shared by the trainers: the actor-critic network, normalizers, GAE and the jitted update.

Acting runs in numpy (a 64-env batch through a small MLP costs microseconds; a JAX dispatch would cost more than
the whole forward pass), learning runs in JAX (one jitted call per update: epochs x minibatches in a lax.scan).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rewardsmith.config import TrainConfig

LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0
_BLAS_SET_THREADS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")


def limit_blas_threads(n: int = 1) -> bool:
    """Makes numpy's BLAS single-threaded (as OPENBLAS_NUM_THREADS=1 would at start-up); True if it found the call.

    Acting multiplies a [num_envs, obs] batch by small matrices between MuJoCo rollout calls that use every core.
    With OpenBLAS's own threads busy-waiting beside MuJoCo's and XLA's on 2 cores, a 0.4 ms forward pass took
    17 ms and the rollout slowed by 20%: the native trainer ran at half speed. Process-wide: call it only in a
    process that trains (the sandbox worker, a benchmark, a test)."""
    libs = set()
    for folder in (os.path.dirname(np.__file__) + "/../numpy.libs", os.path.dirname(np.__file__) + "/.libs"):
        libs.update(glob.glob(os.path.join(folder, "*openblas*.so*")))
    found = False
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SET_THREADS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                found = True
                break
    return found


def _init_mlp(key, sizes, last_scale):
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = last_scale if i == len(sizes) - 2 else np.sqrt(2.0)
        w = jax.nn.initializers.orthogonal(scale)(k, (n_in, n_out), jnp.float32)
        layers.append({"w": w, "b": jnp.zeros(n_out, jnp.float32)})
    return layers


def init_params(seed: int, obs_dim: int, act_dim: int, cfg: TrainConfig) -> dict:
    k_pi, k_v = jax.random.split(jax.random.PRNGKey(seed))
    return {
        "policy": _init_mlp(k_pi, (obs_dim, *cfg.hidden, act_dim), 0.01),
        "value": _init_mlp(k_v, (obs_dim, *cfg.hidden, 1), 1.0),
        "log_std": jnp.full(act_dim, cfg.init_log_std, jnp.float32),
    }


def inherited_params(fresh: dict, start, cfg: TrainConfig) -> dict:
    """`fresh` parameters (init_params) with a start policy's (evolve --inherit; a train.policy.Policy): its policy
    network always, its value network and log std where cfg.inherit_value / inherit_log_std keep them. A policy of
    other network shapes (another env, other `hidden` sizes) cannot be continued: ValueError naming both."""
    def shapes(layers):
        return [tuple(np.shape(layer["w"])) for layer in layers]

    for part in ("policy", "value"):
        if shapes(start.params[part]) != shapes(fresh[part]):
            raise ValueError(f"the policy to start from has {part} layers {shapes(start.params[part])}, this "
                             f"training {shapes(fresh[part])}")

    def as_jax(layers):
        return [{"w": jnp.asarray(layer["w"], jnp.float32), "b": jnp.asarray(layer["b"], jnp.float32)}
                for layer in layers]

    params = dict(fresh, policy=as_jax(start.params["policy"]))
    if cfg.inherit_value:
        params["value"] = as_jax(start.params["value"])
    if cfg.inherit_log_std:
        params["log_std"] = jnp.asarray(start.params["log_std"], jnp.float32)
    return params


def mlp(layers, x, xp):
    for layer in layers[:-1]:
        x = xp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def to_numpy(params) -> dict:
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float32), params)


def params_finite(params) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(a)))) for a in jax.tree_util.tree_leaves(params))


class RunningMeanStd:
    """Running mean and variance over batches (Chan et al.), for observation and return normalization."""

    def __init__(self, shape=()):
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        b_mean, b_var, b_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def normalize(self, x: np.ndarray, clip: float = 10.0) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -clip, clip).astype(np.float32)

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": float(self.count)}


@dataclass
class Batch:
    obs: np.ndarray  # [T, N, obs_dim] normalized observations
    actions: np.ndarray  # [T, N, act_dim] unclipped Gaussian samples
    logp: np.ndarray  # [T, N]
    advantages: np.ndarray  # [T, N]
    returns: np.ndarray  # [T, N]


def gae(rewards, values, next_values, terminated, episode_ends, gamma, lam):
    """Generalized advantage estimation over a [T, N] rollout.

    next_values[t] is V(s_{t+1}) of the state the step reached (before any reset), so a time-limit truncation
    bootstraps from the real final state; `terminated` zeroes the bootstrap, `episode_ends` (terminated or
    truncated) stops the advantage from flowing across a reset.
    """
    T = rewards.shape[0]
    adv = np.zeros_like(rewards)
    last = np.zeros(rewards.shape[1], dtype=rewards.dtype)
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * next_values[t] * (1.0 - terminated[t]) - values[t]
        last = delta + gamma * lam * (1.0 - episode_ends[t]) * last
        adv[t] = last
    return adv, adv + values


def gaussian_logp(mean, log_std, actions, xp):
    log_std = xp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
    z = (actions - mean) / xp.exp(log_std)
    return xp.sum(-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi), axis=-1)


def make_update(cfg: TrainConfig):
    """Returns update(params, opt_state, batch arrays, key) -> (params, opt_state, metrics), jitted.

    Cached on the settings the update depends on, so trainings in one process (tests, benchmarks) compile once."""
    return _make_update(cfg.learning_rate, cfg.max_grad_norm, cfg.clip, cfg.value_coef, cfg.entropy_coef, cfg.epochs,
                        cfg.minibatches)


@functools.lru_cache(maxsize=16)
def _make_update(learning_rate, max_grad_norm, clip, value_coef, entropy_coef, epochs, minibatches):
    cfg = TrainConfig(learning_rate=learning_rate, max_grad_norm=max_grad_norm, clip=clip, value_coef=value_coef,
                      entropy_coef=entropy_coef, epochs=epochs, minibatches=minibatches)
    optimizer = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.learning_rate, eps=1e-5))

    def loss_fn(params, mb):
        mean = mlp(params["policy"], mb["obs"], jnp)
        logp = gaussian_logp(mean, params["log_std"], mb["actions"], jnp)
        ratio = jnp.exp(logp - mb["logp"])
        adv = (mb["advantages"] - mb["advantages"].mean()) / (mb["advantages"].std() + 1e-8)
        pg_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv).mean()
        value = mlp(params["value"], mb["obs"], jnp)[..., 0]
        v_loss = 0.5 * ((value - mb["returns"]) ** 2).mean()
        log_std = jnp.clip(params["log_std"], LOG_STD_MIN, LOG_STD_MAX)
        entropy = jnp.sum(log_std + 0.5 * np.log(2 * np.pi * np.e))
        loss = pg_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy
        approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
        return loss, {"policy_loss": pg_loss, "value_loss": v_loss, "entropy": entropy, "approx_kl": approx_kl}

    def minibatch_step(carry, mb):
        params, opt_state = carry
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, mb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch_step(carry, key):
        params, opt_state, data = carry
        n = data["obs"].shape[0]
        perm = jax.random.permutation(key, n)
        shuffled = jax.tree_util.tree_map(
            lambda a: a[perm].reshape(cfg.minibatches, n // cfg.minibatches, *a.shape[1:]), data)
        (params, opt_state), metrics = jax.lax.scan(minibatch_step, (params, opt_state), shuffled)
        return (params, opt_state, data), metrics

    @jax.jit
    def update(params, opt_state, data, key):
        keys = jax.random.split(key, cfg.epochs)
        (params, opt_state, _), metrics = jax.lax.scan(epoch_step, (params, opt_state, data), keys)
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)

    return optimizer, update


def flatten_batch(batch: Batch) -> dict:
    """[T, N, ...] -> [T*N, ...], trimmed to a multiple of the minibatch count by the caller's config."""
    return {
        "obs": batch.obs.reshape(-1, batch.obs.shape[-1]),
        "actions": batch.actions.reshape(-1, batch.actions.shape[-1]),
        "logp": batch.logp.reshape(-1),
        "advantages": batch.advantages.reshape(-1),
        "returns": batch.returns.reshape(-1),
    }
