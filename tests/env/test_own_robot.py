"""User envs folder (REWARDSMITH_ENVS): a user env resolves, a name clashing with a built-in env is one clear error,
and the sandbox's read allow-list includes the user's folder."""

from __future__ import annotations

import shutil

import pytest

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.resources import ENVS_DIR
from rewardsmith.sandbox.confine import _read_paths


def test_user_env_resolves_and_is_readable_by_the_sandbox(tmp_path, monkeypatch):
    shutil.copytree(ENVS_DIR / "cartpole", tmp_path / "mycart")
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path))
    assert "mycart" in env_names() and "cartpole" in env_names()
    env = get_env("mycart")
    assert env.folder == tmp_path.resolve() / "mycart" and env.tasks
    assert str(tmp_path.resolve()) in _read_paths([])


def test_user_env_name_clashing_with_builtin_is_one_line(tmp_path, monkeypatch):
    shutil.copytree(ENVS_DIR / "cartpole", tmp_path / "cartpole")
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path))
    with pytest.raises(ValueError, match="clashes with a built-in env") as err:
        get_env("cartpole")
    assert "\n" not in str(err.value)


def test_sandboxed_child_sees_the_user_envs_folder_but_not_secrets(tmp_path):
    from rewardsmith.sandbox.runner import scrubbed_env

    env = scrubbed_env(tmp_path, {"REWARDSMITH_ENVS": "/data/my_envs", "OPENAI_API_KEY": "sk-secret-123456"})
    assert env["REWARDSMITH_ENVS"] == "/data/my_envs" and "OPENAI_API_KEY" not in env
