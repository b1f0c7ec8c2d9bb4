"""User envs folder (REWARDSMITH_ENVS, or --envs-dir recorded by the run): a user env resolves, a name clashing
with a built-in env is one clear error, and the sandbox's read allow-list includes the user's folder."""

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

    from rewardsmith.cli.app import app

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


def _rewardsmith(*args, cwd):
    """The command as a user runs it, with no REWARDSMITH_ENVS in its environment."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "REWARDSMITH_ENVS"}
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_a_run_made_with_envs_dir_resumes_shows_and_plays_without_the_variable(tmp_path):
    """evolve --envs-dir on a robot of the user's (an MJCF not ours) records the folder; show, --resume and play
    of the run then find the env with REWARDSMITH_ENVS unset, and a missing --envs-dir folder is one line."""
    import json

    (tmp_path / "block.xml").write_text(BLOCK_XML)
    envs = tmp_path / "my_envs"
    made = _rewardsmith("env", "new", "slider", "--model", "block.xml", "--envs-dir", envs, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    # what a user fills in: a task score (how far right the block is) and a reward term that asks for it
    env_py = envs / "slider" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "        train_steps=50_000,\n",
        '        train_steps=50_000,\n        fitness=lambda s, xp: xp.clip(s["slide_x_pos"], 0.0, 1.0),\n'))
    reward = envs / "slider" / "rewards" / "move.py"
    reward.write_text(reward.read_text().replace('SCALES = {"alive": 1.0}', 'SCALES = {"alive": 1.0, "right": 1.0}')
                      .replace("    return {\n", '    return {\n        "right": s["slide_x_pos"],\n'))

    missing = _rewardsmith("evolve", "--env", "slider", "--task", "move", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--envs-dir", tmp_path / "nope",
                           "--trainer", "native", "--out", "runs", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert "--envs-dir" in missing.stderr and "is not a folder" in missing.stderr and not (tmp_path / "runs").exists()

    evolve = _rewardsmith("evolve", "--env", "slider", "--task", "move", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1",
                          "--samples", "1", "--train-steps", "1024", "--no-video", "--trainer", "native",
                          "--envs-dir", "my_envs", "--out", "runs", cwd=tmp_path)
    assert evolve.returncode == 0, evolve.stdout[-2000:] + evolve.stderr[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "config.json").read_text())["envs_dir"] == str(envs.resolve())

    shown = _rewardsmith("show", run, cwd=tmp_path)
    assert shown.returncode == 0 and "env slider" in shown.stdout, shown.stderr
    resumed = _rewardsmith("evolve", "--resume", run, cwd=tmp_path)  # resolves the env again (evolve.prepare)
    assert resumed.returncode == 0 and "best: g0c00" in resumed.stdout, resumed.stdout[-2000:] + resumed.stderr
    played = _rewardsmith("play", run, "--seed", "3", cwd=tmp_path)  # the sandboxed episode loads the env too
    assert played.returncode == 0 and (run / "play" / "g0c00-seed3.mp4").is_file(), played.stderr

    # the control: without the folder recorded, the same resume cannot find the env
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "envs_dir": None}))
    lost = _rewardsmith("evolve", "--resume", run, cwd=tmp_path)
    assert lost.returncode == 2 and "unknown env 'slider'" in lost.stderr, lost.stderr
