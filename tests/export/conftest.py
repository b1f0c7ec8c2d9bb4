"""Run stores holding a reference reward as a candidate, and states sampled from native MuJoCo rollouts."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest
from builders import evaluated

from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.env.sim import NativeBatch
from rewardsmith.runs.store import RunStore

# reference rewards used as "the run's best program": small and large envs, clip/maximum/sqrt/sum calls
CASES = [("cartpole", "balance"), ("humanoid", "kneel"), ("ant", "run"), ("hopper", "hop")]


def make_store(tmp_path, env: str, task: str) -> RunStore:
    store = RunStore.create(tmp_path, f"run-{env}-{task}", RunConfig(env=env, task=task))
    source = get_env(env).reference_reward_path(task).read_text()
    store.save_candidate(dataclasses.replace(evaluated(0, 0, 0.5), source=source))
    return store


def sampled_states(env_name: str, task: str, n: int = 24, steps: int = 6, seed: int = 3):
    """(qpos, qvel, state view, action) of n envs after `steps` random control steps."""
    env = get_env(env_name)
    sim = NativeBatch(env, task, n, seed, nthread=1)
    rng = np.random.default_rng(seed)
    try:
        for _ in range(steps):
            sim.step(rng.uniform(-1, 1, (n, sim.model.nu)))
        raw = sim.raw()
        s = env.state_view(raw.qpos.copy(), raw.qvel.copy(), sim.sensors(), np)
        return raw.qpos.copy(), raw.qvel.copy(), s, rng.uniform(-1, 1, (n, sim.model.nu))
    finally:
        sim.close()


def import_file(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=CASES, ids=[f"{e}-{t}" for e, t in CASES])
def case(request, tmp_path):
    env, task = request.param
    return env, task, make_store(tmp_path, env, task)
