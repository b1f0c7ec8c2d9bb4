"""User envs folder (REWARDSMITH_ENVS, or --envs-dir recorded by the run): a user env resolves, a name clashing
with a built-in env is one clear error, and the sandbox's read allow-list includes the user's folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
    """The command in-process as the console script runs it (one-line errors and exit codes included): its exit
    code and what it printed on stdout and stderr together."""
    import contextlib
    import io
    from types import SimpleNamespace

    from rewardsmith.cli.app import app

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            app(list(args), prog_name="rewardsmith")
        except SystemExit as stop:
            return SimpleNamespace(exit_code=stop.code, output=printed.getvalue())
    raise AssertionError("the command did not exit")


def _fill(path, answers: dict[str, str]) -> None:
    """What a user does with each line `env check` names: the TODO line holding `key` becomes the answer (its
    indent kept)."""
    lines = path.read_text().splitlines()
    for key, answer in answers.items():
        (i,) = [n for n, line in enumerate(lines) if "TODO" in line and key in line]
        lines[i] = lines[i][:len(lines[i]) - len(lines[i].lstrip())] + answer
    path.write_text("\n".join(lines) + "\n")


def _fill_task(folder, fitness: str, terminate: str, what: str, threshold: str, success: str, ends: str) -> None:
    _fill(folder / "env.py", {
        "DESCRIPTION": f'DESCRIPTION = "{what}"',
        "the score per step": f"return {fitness}",
        "where to end": f"return {terminate}",
        "description=": 'description="Move forward (toward +x) as fast as possible.",',
        "score_doc=": 'score_doc="the mean speed along +x in m/s over the episode",',
        "success_threshold=": f"success_threshold={threshold},",
        "success_doc=": f'success_doc="its task score is at least {threshold}: {success}",',
        "termination_doc=": f'termination_doc="{ends}",',
    })


def _fill_slider(folder) -> None:
    _fill_task(folder, 'xp.clip(s["slide_x_pos"], 0.0, 1.0)', 'xp.abs(s["slide_x_pos"]) > 5.0',
               "A block on a rail along x, pushed by one motor.", "0.5", "the block is at least 0.5 m right on average",
               "the block is more than 5 m from the start")
    _fill(folder / "state_view.py", {"describe the robot": '"""slider: a 0.2 m block on a rail along x; the action '
                                     "pushes it (+ = toward +x).", "say what it measures": '"block_pos": '
                                     'sensor["block_pos"],  # [..., 3] world position of the block centre (m)'})
    _fill_reward(folder, '"right": s["slide_x_pos"],', '{"right": 1.0}')


def _fill_reward(folder, term: str, scales: str) -> None:
    reward = folder / "rewards" / "move.py"
    _fill(reward, {"Reference reward": '"""Reference reward, written by hand."""', "terms computed": term})
    text = reward.read_text().replace('SCALES = {"alive": 1.0}', f"SCALES = {scales}")
    reward.write_text(text.replace('        "alive": xp.ones_like(action[..., 0]),\n', ""))


def test_env_new_scaffolds_from_mjcf_and_check_names_each_todo_then_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path / "envs"))  # restored after the test (the CLI sets it too)
    model = tmp_path / "block.xml"
    model.write_text(BLOCK_XML)
    envs = str(tmp_path / "envs")
    result = _cli("env", "new", "slider", "--model", str(model), "--envs-dir", envs)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "envs" / "slider"
    view = (folder / "state_view.py").read_text()
    assert '"slide_x_pos": qpos[..., 0]' in view and 'sensor["block_pos"]' in view and "body" in view
    assert 'CAMERA = "top"' in (folder / "env.py").read_text()  # a fixed robot keeps the model's camera

    todo = _cli("env", "check", "slider", "--envs-dir", envs)
    assert todo.exit_code == 1 and "passed" not in todo.output, todo.output
    lines = todo.output.splitlines()
    assert all(line.startswith("FIX: ") and "TODO" in line for line in lines), todo.output
    for needed in ("env.py line", "DESCRIPTION =", "raise NotImplementedError(\"TODO: return the score per step",
                   "return where to end", "success_doc=", "termination_doc=", "score_doc=", "state_view.py line 2",
                   "rewards/move.py line"):
        assert needed in todo.output, needed
    runs = tmp_path / "runs"  # a run on the unwritten scaffold would fail every training: refused before it starts
    early = _cli("evolve", "--env", "slider", "--task", "move", "--llm-free", "--trainer", "native", "--envs-dir",
                 envs, "--out", str(runs))
    assert early.exit_code == 2 and early.output.count("\n") == 1 and not runs.exists(), early.output
    assert "env 'slider' has 12 TODO placeholder(s) still to write (the first: env.py line 8)" in early.output
    _fill_slider(folder)
    one_left = folder / "env.py"
    one_left.write_text(one_left.read_text().replace("FRAME_SKIP = 2", "FRAME_SKIP = 2  # TODO: tune"))
    todo = _cli("env", "check", "slider", "--envs-dir", envs)
    assert todo.exit_code == 1 and todo.output.count("FIX:") == 1 and "FRAME_SKIP = 2  # TODO: tune" in todo.output
    one_left.write_text(one_left.read_text().replace("  # TODO: tune", ""))
    result = _cli("env", "check", "slider", "--envs-dir", envs)
    assert result.exit_code == 0 and "passed every check" in result.output, result.output

    again = _cli("env", "new", "slider", "--model", str(model), "--envs-dir", envs)
    assert again.exit_code == 2 and "already exists" in again.output
    clash = _cli("env", "new", "cartpole", "--model", str(model), "--envs-dir", envs)
    assert clash.exit_code == 2 and "clashes with a built-in env" in clash.output
    assert not (tmp_path / "envs" / "cartpole").exists()

    env_py = folder / "env.py"
    env_py.write_text(env_py.read_text().replace('CAMERA = "top"', 'CAMERA = "front"'))
    (folder / "rewards" / "move.py").unlink()
    broken = _cli("env", "check", "slider", "--envs-dir", envs)
    assert broken.exit_code == 1
    assert "CAMERA 'front' is not a camera of model.xml; valid cameras: top" in broken.output
    assert "write rewards/move.py" in broken.output


CRAWLER_XML = """<mujoco model="crawler">
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="20 20 0.1"/>
    <!-- a box torso on a free joint, four legs on hip hinges -->
    <body name="torso" pos="0 0 0.25">
      <freejoint name="root"/>
      <geom type="box" size="0.2 0.1 0.04" mass="1"/>
      <body name="front_left" pos="0.15 0.1 0"><joint name="hip_fl" type="hinge" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 0.12 -0.2" size="0.03"/></body>
      <body name="front_right" pos="0.15 -0.1 0"><joint name="hip_fr" type="hinge" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 -0.12 -0.2" size="0.03"/></body>
      <body name="back_left" pos="-0.15 0.1 0"><joint name="hip_bl" type="hinge" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 0.12 -0.2" size="0.03"/></body>
      <body name="back_right" pos="-0.15 -0.1 0"><joint name="hip_br" type="hinge" axis="0 1 0" range="-1 1"/>
        <geom type="capsule" fromto="0 0 0 0 -0.12 -0.2" size="0.03"/></body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="hip_fl" gear="5" ctrlrange="-1 1"/>
    <motor joint="hip_fr" gear="5" ctrlrange="-1 1"/>
    <motor joint="hip_bl" gear="5" ctrlrange="-1 1"/>
    <motor joint="hip_br" gear="5" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


def _fill_crawler(folder) -> None:
    """The crawler's TODOs as README's walk-through shows them (fitness: speed along +x; ends upside down)."""
    _fill_task(folder, 's["torso_velocity"][..., 0]', 's["torso_up"][..., 2] < 0',
               "A box torso free to move in 3-D with four legs on hip hinges; four hip motors.", "0.1",
               "the torso moves along +x at 0.1 m/s or more on average", "the torso turns upside down")
    _fill(folder / "state_view.py", {"describe the robot": '"""crawler: a 0.4 m box torso with four legs, each on a '
                                     "hip hinge (+-1 rad); the action is the four hip torques in [-1, 1]."})
    _fill_reward(folder, '"forward": s["torso_velocity"][..., 0],', '{"forward": 1.0}')


def _scaffold_crawler(tmp_path):
    from rewardsmith.env.scaffold import scaffold

    (tmp_path / "crawler.xml").write_text(CRAWLER_XML)
    return scaffold("crawler", tmp_path / "crawler.xml", tmp_path / "envs", ["cartpole"])


def test_env_new_gives_a_floating_robot_its_root_state_a_valid_start_and_a_tracking_camera(tmp_path):
    """The free joint's fields equal MuJoCo's own body pose and velocity at a random orientation and velocity; the
    start state keeps a unit quaternion and perturbs the legs; model.xml gains one trackcom camera line."""
    import mujoco
    import numpy as np

    from rewardsmith.env.registry import load_module

    folder = _scaffold_crawler(tmp_path)
    view = load_module(folder / "state_view.py", "crawler_view_test").state_view
    env = load_module(folder / "env.py", "crawler_env_test")
    model = mujoco.MjModel.from_xml_path(str(folder / "model.xml"))
    data, rng = mujoco.MjData(model), np.random.default_rng(0)
    quat = rng.normal(size=4)
    data.qpos[3:7], data.qvel[:] = quat / np.linalg.norm(quat), rng.normal(size=model.nv)
    mujoco.mj_forward(model, data)
    s = view(data.qpos[None], data.qvel[None], {}, np)
    torso = model.body("torso").id
    xmat = data.xmat[torso].reshape(3, 3)
    assert np.allclose(s["torso_pos"][0], data.xpos[torso]) and np.isclose(s["torso_height"][0], data.xpos[torso][2])
    assert np.allclose(s["torso_up"][0], xmat[:, 2]) and np.allclose(s["torso_forward"][0], xmat[:, 0])
    world, local = np.zeros(6), np.zeros(6)  # [angular, linear] at the body's origin
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, torso, world, 0)
    mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, torso, local, 1)
    assert np.allclose(s["torso_velocity"][0], world[3:]) and np.allclose(s["torso_angular_velocity"][0], local[:3])
    assert {"hip_fl_pos", "hip_br_vel"} <= set(s)

    qpos, qvel = env.initial_state(rng, model.qpos0.copy(), 64, "move")
    assert np.allclose(np.linalg.norm(qpos[:, 3:7], axis=1), 1.0) and np.allclose(qpos[:, :7], model.qpos0[:7])
    assert np.all(np.std(qpos[:, 7:], axis=0) > 0) and qvel.shape == (64, model.nv)
    obs = env.observation(qpos, qvel, {}, np)
    assert obs.shape == (64, model.nq - 2 + model.nv)  # all but the free joint's world x, y

    assert env.CAMERA == "track"
    camera = model.camera("track")
    assert camera.mode == mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM and model.cam_bodyid[camera.id] == torso
    original, copied = CRAWLER_XML.splitlines(), (folder / "model.xml").read_text().splitlines()
    added = [line for line in copied if line not in original]
    assert len(copied) == len(original) + 1 and len(added) == 1 and 'mode="trackcom"' in added[0]


def test_env_check_runs_the_fitness_and_terminate_the_user_wrote(tmp_path):
    from rewardsmith.env.check import check_env_folder

    folder = _scaffold_crawler(tmp_path)
    _fill_crawler(folder)
    assert check_env_folder(folder) == []
    env_py = folder / "env.py"
    written = env_py.read_text()
    env_py.write_text(written.replace('return s["torso_velocity"][..., 0]', 'return s["torso_velocity"]'))
    (line,) = check_env_folder(folder)
    assert "task 'move': fitness(s, xp) gave shape (8, 3)" in line and "one finite value per batch element" in line
    env_py.write_text(written.replace('return s["torso_up"][..., 2] < 0', "return np.asarray(s['torso_up'])[..., 2] < 0"))
    (line,) = check_env_folder(folder)
    assert "task 'move': terminate(s, xp) failed: TracerArrayConversionError" in line and "with xp only" in line
    assert "\n" not in line
    env_py.write_text(written.replace("success_threshold=0.1,", "success_threshold=0.3,"))
    (line,) = check_env_folder(folder)
    assert "success_doc must start 'its task score is at least 0.3'" in line


def test_env_new_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path / "envs"))
    good, bad = tmp_path / "crawler.xml", tmp_path / "bad.xml"
    good.write_text(CRAWLER_XML)
    bad.write_text(CRAWLER_XML.replace("<freejoint", "<freejoint <"))
    malformed = _cli("env", "new", "crawler", "--model", str(bad), "--envs-dir", str(tmp_path / "envs"))
    assert malformed.exit_code == 2 and malformed.output.count("\n") == 1, malformed.output
    assert "does not load in MuJoCo: XML parse error" in malformed.output and "Line number=7" in malformed.output

    (tmp_path / "a-file").write_text("")
    blocked = _cli("env", "new", "crawler", "--model", str(good), "--envs-dir", str(tmp_path / "a-file" / "envs"))
    assert blocked.exit_code == 2 and blocked.output.count("\n") == 1, blocked.output
    assert "cannot write in" in blocked.output and "give a folder you can write to" in blocked.output

    from rewardsmith.env import scaffold

    def fills_up(path, content):  # the disk fills after the first file: no half-written env stays behind
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        write(path, content)

    write, written = scaffold.write_file, []
    monkeypatch.setattr(scaffold, "write_file", fills_up)
    (tmp_path / "envs").mkdir()
    full = _cli("env", "new", "crawler", "--model", str(good), "--envs-dir", str(tmp_path / "envs"))
    assert full.exit_code == 2 and "No space left on device" in full.output, full.output
    assert len(written) == 1 and list((tmp_path / "envs").iterdir()) == []
    monkeypatch.setattr(scaffold, "write_file", write)
    (tmp_path / "inc.xml").write_text(CRAWLER_XML.replace("<worldbody>", '<include file="ball.xml"/><worldbody>'))
    (tmp_path / "ball.xml").write_text('<mujoco><worldbody><geom type="sphere" size="0.1"/></worldbody></mujoco>')
    relative = _cli("env", "new", "crawler", "--model", str(tmp_path / "inc.xml"), "--envs-dir",
                    str(tmp_path / "new_envs"))  # the include resolves beside inc.xml, not in the env folder
    assert relative.exit_code == 2 and "its copy in the env folder does not load in MuJoCo" in relative.output
    assert "Error opening file" in relative.output and not (tmp_path / "new_envs").exists(), relative.output

    if os.geteuid() != 0:  # root writes into a read-only folder regardless
        (tmp_path / "ro").mkdir(mode=0o555)
        denied = _cli("env", "new", "crawler", "--model", str(good), "--envs-dir", str(tmp_path / "ro"))
        assert denied.exit_code == 2 and "Permission denied" in denied.output and not any((tmp_path / "ro").iterdir())


def test_a_missing_envs_folder_is_refused_and_envs_lists_an_envs_dir(tmp_path, monkeypatch):
    shutil.copytree(ENVS_DIR / "cartpole", tmp_path / "mine" / "mycart")
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path / "typo"))
    for args in (["envs"], ["env", "check", "mycart"], ["train", "--env", "mycart", "--task", "balance"]):
        refused = _cli(*args)
        assert refused.exit_code == 2 and refused.output.count("\n") == 1, (args, refused.output)
        assert f"REWARDSMITH_ENVS is '{tmp_path / 'typo'}', which is not a folder" in refused.output, refused.output
    listed = _cli("envs", "--envs-dir", str(tmp_path / "mine"))
    assert listed.exit_code == 0 and "mycart" in listed.output and "cartpole" in listed.output, listed.output
    monkeypatch.delenv("REWARDSMITH_ENVS")
    assert "mycart" not in _cli("envs").output  # the control: without the folder, only the built-in envs


def test_train_on_a_described_task_says_what_is_wrong_in_the_users_words():
    result = _cli("train", "--env", "cartpole", "--task", "🤖 balance")
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "'🤖 balance' is not a task of env 'cartpole' (its tasks: balance, swingup)" in result.output
    assert "custom" not in result.output


def test_an_export_from_an_own_env_names_the_users_folder(tmp_path, monkeypatch):
    from rewardsmith.exports.reward import render

    shutil.copytree(ENVS_DIR / "cartpole", tmp_path / "mycart")
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path))
    source = (ENVS_DIR / "cartpole" / "rewards" / "balance.py").read_text()
    for env, where in (("mycart", f"{tmp_path.resolve()}/mycart/state_view.py"),
                       ("cartpole", "rewardsmith's envs/cartpole/state_view.py")):
        for fmt in ("numpy", "jax", "torch", "isaaclab"):
            text = render(fmt, source, run="r", cand="g0c00", env=env, task="balance", score="", module="m")
            assert where in " ".join(text.split()), (env, fmt)


def test_mjx_imports_without_the_warp_backends_lines():
    """mujoco.mjx prints two "Failed to import warp" lines where NVIDIA Warp is absent (WARP_INSTALLED False:
    the control that they would have been printed)."""
    import subprocess
    import sys

    code = ("from rewardsmith.env.quiet_mjx import import_mjx; import sys; import_mjx(); "
            "print('warp installed:', sys.modules['mujoco.mjx.warp'].WARP_INSTALLED)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=_child_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout in ("warp installed: False\n", "warp installed: True\n") and "Failed" not in result.stderr


def _child_env() -> dict[str, str]:
    """A child's environment: no REWARDSMITH_ENVS, and this checkout's package first on the path (a relative
    PYTHONPATH would name another folder from the child's working directory)."""
    root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if k != "REWARDSMITH_ENVS"}
    return env | {"PYTHONPATH": os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])}


def _rewardsmith(*args, cwd):
    """The command as a user runs it, with no REWARDSMITH_ENVS in its environment."""
    import subprocess
    import sys

    env = _child_env()
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
    _fill_slider(envs / "slider")  # what a user writes: a task score (how far right the block is), a reward

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


def _readme_walkthrough() -> list[str]:
    """The lines of README's own-robot bash block, comments included (a comment line is where the user edits)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("## Your own robot\n"):]
    start = section.index("```bash\n") + len("```bash\n")
    return section[start:section.index("```", start)].splitlines()


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written_on_a_floating_crawler(tmp_path):
    """README's own-robot commands, run as written (HOME is tmp_path) on a crawler MJCF the project never shipped:
    `env new`, `env check` naming the TODOs, the TODOs written as the README says, `env check` passing, and the
    LLM-free `evolve` to a finished run whose export names the user's folder. No Warp lines, no traceback."""
    import shlex
    import subprocess
    import sys

    env = _child_env() | {"HOME": str(tmp_path)}
    ran: dict[str, list[str]] = {}  # the command ("env new", "env check", "evolve") -> what each run printed
    name = ""  # the env's, from the `env new` line
    for line in _readme_walkthrough():
        words = shlex.split(line, comments=True)
        if line.startswith("#"):  # "write each TODO": what the README tells the user to write
            _fill_crawler(Path(env["REWARDSMITH_ENVS"]) / name)
            continue
        if words[0] == "export":
            key, value = words[1].split("=", 1)
            env[key] = value.replace("~", str(tmp_path), 1)
            continue
        assert words[0] == "rewardsmith", line
        command = " ".join(words[1:3]) if words[1] == "env" else words[1]
        if command == "env new":
            name, model = words[3], words[words.index("--model") + 1]
            (tmp_path / model).write_text(CRAWLER_XML)
        done = subprocess.run([sys.executable, "-m", "rewardsmith.cli", *words[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=1200)
        printed = done.stdout + done.stderr
        assert "Failed to import" not in printed and "Traceback" not in printed, (line, printed[-3000:])
        assert done.returncode == (1 if command == "env check" and command not in ran else 0), (line, printed[-3000:])
        ran.setdefault(command, []).append(printed)

    first_check, second_check = ran["env check"]
    assert "env.py line" in first_check and "return the score per step" in first_check, first_check
    assert "passed every check" in second_check
    (evolved,) = ran["evolve"]
    assert "best: g0c0" in evolved, evolved[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "result.json").is_file() and list(run.glob("gen_00/cand_0*/video.mp4"))
    exported = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "export", str(run), "-o", "reward.py"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    folder = Path(env["REWARDSMITH_ENVS"]).resolve() / name
    assert f"{folder}/state_view.py" in (tmp_path / "reward.py").read_text()
