"""User envs folder (REWARDSMITH_ENVS): a user env resolves, a name clashing with a built-in env is one clear error,
and the sandbox's read allow-list includes the user's folder."""

from __future__ import annotations

import shutil

import pytest

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.resources import ENVS_DIR
from rewardsmith.sandbox.confine import read_paths


def test_user_env_resolves_and_is_readable_by_the_sandbox(tmp_path, monkeypatch):
    shutil.copytree(ENVS_DIR / "cartpole", tmp_path / "mycart")
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path))
    assert "mycart" in env_names() and "cartpole" in env_names()
    env = get_env("mycart")
    assert env.folder == tmp_path.resolve() / "mycart" and env.tasks
    assert str(tmp_path.resolve()) in read_paths([])


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


BLOCK_XML = """<mujoco model="block">
  <option timestep="0.01"/>
  <worldbody>
    <camera name="top" pos="0 0 3"/>
    <body name="block" pos="0 0 0.1">
      <joint name="slide_x" type="slide" axis="1 0 0" damping="1"/>
      <geom type="box" size="0.1 0.1 0.1" mass="1" contype="0" conaffinity="0"/>
      <site name="centre"/>
    </body>
  </worldbody>
  <actuator><motor name="push" joint="slide_x" gear="5" ctrlrange="-1 1" ctrllimited="true"/></actuator>
  <sensor><framepos name="block_pos" objtype="site" objname="centre"/></sensor>
</mujoco>
"""


def _cli(*args):
    from typer.testing import CliRunner

    from rewardsmith.cli import app

    return CliRunner().invoke(app, list(args))


def test_env_new_scaffolds_from_mjcf_and_check_passes_then_names_what_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path / "envs"))  # restored after the test (the CLI sets it too)
    model = tmp_path / "block.xml"
    model.write_text(BLOCK_XML)
    envs = str(tmp_path / "envs")
    result = _cli("env", "new", "slider", "--model", str(model), "--envs-dir", envs)
    assert result.exit_code == 0, result.output
    view = (tmp_path / "envs" / "slider" / "state_view.py").read_text()
    assert '"slide_x_pos": qpos[..., 0]' in view and 'sensor["block_pos"]' in view and "body" in view
    result = _cli("env", "check", "slider", "--envs-dir", envs)
    assert result.exit_code == 0 and "passed every check" in result.output, result.output

    again = _cli("env", "new", "slider", "--model", str(model), "--envs-dir", envs)
    assert again.exit_code == 2 and "already exists" in again.output
    clash = _cli("env", "new", "cartpole", "--model", str(model), "--envs-dir", envs)
    assert clash.exit_code == 2 and "clashes with a built-in env" in clash.output
    assert not (tmp_path / "envs" / "cartpole").exists()

    env_py = tmp_path / "envs" / "slider" / "env.py"
    env_py.write_text(env_py.read_text().replace('CAMERA = "top"', 'CAMERA = "front"'))
    (tmp_path / "envs" / "slider" / "rewards" / "move.py").unlink()
    broken = _cli("env", "check", "slider", "--envs-dir", envs)
    assert broken.exit_code == 1
    assert "CAMERA 'front' is not a camera of model.xml; valid cameras: top" in broken.output
    assert "write rewards/move.py" in broken.output
