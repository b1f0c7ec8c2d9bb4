"""A program with its own terminate (evolve --evolve-termination): every export format carries it, with the same
values as the numpy export, and the gymnasium wrapper really ends the episode; a program without one exports as
before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builders import evaluated
from conftest import import_file, sampled_states
from test_formats import _isaaclab_stand_ins

from rewardsmith.config import RunConfig
from rewardsmith.env.registry import get_env
from rewardsmith.exports import FORMATS, export_reward
from rewardsmith.runs.store import RunStore

REWARD = get_env("cartpole").reference_reward_path("balance").read_text()
RIGHT = "\n\ndef terminate(s, xp):\n    return s['cart_x'] > 0.2\n"


@pytest.fixture
def store(tmp_path):
    store = RunStore.create(tmp_path, "run-term", RunConfig(env="cartpole", task="balance"))
    store.save_candidate(dataclasses.replace(evaluated(0, 0, 0.5), source=REWARD + RIGHT))
    store.save_candidate(dataclasses.replace(evaluated(0, 1, 0.4), source=REWARD))
    return store


def _export(store, tmp_path, fmt, cand="g0c00"):
    path = export_reward(store, cand, tmp_path / f"term_{fmt}_{cand}.py", fmt=fmt)
    return path, import_file(path, path.stem)


def test_every_format_says_how_to_use_terminate_only_where_there_is_one(store, tmp_path, monkeypatch):
    _isaaclab_stand_ins(monkeypatch)
    for fmt in FORMATS.names():
        with_it = export_reward(store, "g0c00", tmp_path / f"a_{fmt}.py", fmt=fmt).read_text()
        without = export_reward(store, "g0c01", tmp_path / f"b_{fmt}.py", fmt=fmt).read_text()
        usage = FORMATS.get(fmt).terminate_usage
        assert "def terminate(s, xp)" in with_it and usage and usage in with_it, fmt
        assert "terminate(" not in without and usage not in without, fmt


def test_numpy_jax_torch_and_isaaclab_terminations_agree(store, tmp_path, monkeypatch):
    import jax
    import jax.numpy as jnp
    import torch

    _, _, s, _ = sampled_states("cartpole", "balance", n=32, steps=30)
    want = np.asarray(s["cart_x"]) > 0.2
    assert want.any() and not want.all()  # the sampled states hold both answers
    _, numpy_mod = _export(store, tmp_path, "numpy")
    np.testing.assert_array_equal(numpy_mod.terminate(s, np), want)
    _, jax_mod = _export(store, tmp_path, "jax")
    s32 = {k: jnp.asarray(np.asarray(v), jnp.float32) for k, v in s.items()}
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(jax_mod.get_termination))(s32)), want)
    _, torch_mod = _export(store, tmp_path, "torch")
    states = {k: torch.as_tensor(np.asarray(v)) for k, v in s.items()}
    ended = torch_mod.compute_termination(states)
    assert ended.dtype == torch.bool and np.array_equal(ended.numpy(), want)
    _isaaclab_stand_ins(monkeypatch)
    _, il_mod = _export(store, tmp_path, "isaaclab")
    monkeypatch.setattr(il_mod, "state_view", lambda env: states)
    term = il_mod.TerminationsCfg.learned
    np.testing.assert_array_equal(term.func(None, **term.params).numpy(), want)


def test_the_gymnasium_wrapper_ends_the_episode_where_terminate_says(store, tmp_path):
    import gymnasium

    import rewardsmith.env.gym_env  # noqa: F401  (registers the envs)

    _, mod = _export(store, tmp_path, "gymnasium")
    lengths = {}
    for name, wrapper in (("reward only", mod.ExportedReward), ("with terminate", mod.ExportedTermination)):
        env = wrapper(gymnasium.make("rewardsmith/cartpole-balance-v0"))
        env.reset(seed=0)
        steps = 0
        while steps < 200:  # push the cart right: it passes x = 0.2 before the pole falls
            _, _, terminated, truncated, info = env.step(np.ones(env.action_space.shape))
            steps += 1
            if terminated or truncated:
                break
        lengths[name] = (steps, terminated, info.get("learned_termination"))
        s = env.unwrapped.state_view()
        if name == "with terminate":
            assert terminated and info["learned_termination"] and float(s["cart_x"]) > 0.2
    assert lengths["with terminate"][0] < lengths["reward only"][0], lengths
