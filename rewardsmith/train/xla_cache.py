"""XLA's persistent compilation cache for the native trainer: compile the PPO update once per machine, not once per
training.

A cart-pole training of 20k steps spends most of its wall time compiling the jitted PPO update (measured: 22 s of
a 24 s training on a loaded 2-core machine; each later iteration takes ~0.07 s). The update depends on the PPO
settings and the env's observation and action sizes, never on the reward program, so one compilation serves every
candidate of every run with those settings.

Trust: the cache holds compiled native code that every training loads, so only trusted code writes it. `warm`
runs a one-iteration training of our own code with a zero reward in a plain child process (no untrusted code in
it) that writes the cache; the sandboxed trainings of reward programs get the folder read-only (on the sandbox's
read allow-list, never writable under Landlock, and told never to write: a minimum compile time no compilation
reaches), so one candidate's program cannot plant code that another candidate's, or a later run's, training runs.

The folder: REWARDSMITH_XLA_CACHE, else $XDG_CACHE_HOME/rewardsmith/xla, else ~/.cache/rewardsmith/xla;
REWARDSMITH_XLA_CACHE=off turns the cache off. A marker per (settings, env files, JAX version) under warmed/ says
a warm-up was done, so a later training spends one stat on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

CACHE_ENV = "REWARDSMITH_XLA_CACHE"
# settings the compiled update does not depend on (an --inherit child's success_from_step would warm a second time)
NOT_IN_KEY = ("steps", "seed", "time_budget_s", "checkpoints", "eval_episodes", "stop_at_success", "stop_success_rate",
              "success_from_step", "inherit_value", "inherit_log_std",
              "inherit_min_episodes", "inherit_earn_episodes", "overlap_update")
WARM_TIMEOUT_S = 600
NEVER_S = 1e9  # a minimum compile time for writing an entry that no compilation reaches: read-only use


def cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "false", "no"):
        return None
    if value:
        return Path(value).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "rewardsmith" / "xla"


def use_cache(path: Path, writable: bool) -> None:
    """Points this process's JAX at the cache; read-only unless `writable` (the trusted warm-up only)."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0 if writable else NEVER_S)
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")  # XLA's own caches would write too


def marker(env_name: str, task_name: str, train: dict) -> str:
    """What one warm-up covers: the update's settings, the env's files (its sizes) and the JAX build."""
    from rewardsmith.env.registry import get_env

    env = get_env(env_name)
    files = sorted(p for p in env.folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in sorted(train.items()) if k not in NOT_IN_KEY}).encode())
    digest.update(task_name.encode())
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    for package in ("jax", "jaxlib", "mujoco"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
    return f"{env.name}-{digest.hexdigest()[:20]}"


def warm(env_name: str, task_name: str, train: dict) -> Path | None:
    """The cache folder once it holds the update for these settings (compiled now by a trusted child if no
    warm-up was recorded), or None when the cache is off or the warm-up failed (the training then compiles for
    itself, as without a cache)."""
    root = cache_dir()
    if root is None:
        return None
    try:
        done = root / "warmed" / marker(env_name, task_name, train)
        if done.exists():
            return root
        done.parent.mkdir(parents=True, exist_ok=True)
        with open(root / "warm.lock", "w") as lock:  # trainings side by side warm once, the others wait
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                payload = json.dumps({"env": env_name, "task": task_name, "train": train})
                subprocess.run([sys.executable, "-m", "rewardsmith.train.xla_cache", str(root), payload],
                               check=True, timeout=WARM_TIMEOUT_S, capture_output=True,
                               env={**os.environ, CACHE_ENV: str(root)})
                done.touch()
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return root


def _warm_here(root: Path, env_name: str, task_name: str, train: dict) -> None:
    """In the trusted child: one iteration of the native trainer on a zero reward, compiling into the cache."""
    import numpy as np

    from rewardsmith.config import TrainConfig
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.program.load import LoadedReward
    from rewardsmith.train.native import train_native

    use_cache(root, writable=True)
    env = get_env(env_name)
    cfg = TrainConfig().with_overrides(**train)
    cfg = dataclasses.replace(cfg, steps=cfg.num_envs * cfg.rollout_steps)

    def zero(s, action, xp):
        return {"zero": np.zeros(np.asarray(action).shape[0])}

    train_native(env, resolve_task(env, task_name), LoadedReward({"zero": 0.0}, zero, ""), cfg)


if __name__ == "__main__":
    _root, _payload = Path(sys.argv[1]), json.loads(sys.argv[2])
    _warm_here(_root, _payload["env"], _payload["task"], _payload["train"])
