"""`rewardsmith env check NAME`: validate an env folder, each problem one line that says what to fix (in the style
of Stable-Baselines3's check_env). The folder's files are the user's own trusted code, so they run in this process.

Checks, in order (a failure stops the checks that depend on it):
  files        model.xml, env.py, state_view.py exist
  model        model.xml loads in MuJoCo, has actuators, and mujoco.mjx.put_model accepts it (MJX-compatible)
  env.py       DESCRIPTION, FRAME_SKIP (int >= 1), CAMERA, observation, initial_state, TASKS are defined
  camera       CAMERA names a camera of the model (or is "" for the free camera)
  state view   a dict of finite arrays with the batch dimension first, equal under numpy and jax (float32 tolerance)
  tasks        at least one; unique names; positive episode_steps/train_steps; each has rewards/<task>.py
               (whose reward-program checks are program/check.py's check_reference_rewards, a floor above); a
               terminate has its termination_doc, a fitness its score_doc, a success_threshold a fitness and a
               success_doc that states it
  placeholders no line of env.py, state_view.py or rewards/*.py holds the word TODO (`env new` marks every
               placeholder so; its fitness and terminate stubs raise until written)
  fitness      each task's fitness and terminate give one finite value per batch element, equal under numpy and jax
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rewardsmith.env.quiet_mjx import import_mjx


def _states(model, env_module, n: int, task: str):
    import mujoco

    from rewardsmith.env.sim import sensor_slices, split_sensors

    qpos, qvel = env_module.initial_state(np.random.default_rng(0), model.qpos0.copy(), n, task)
    data = mujoco.MjData(model)
    sensordata = np.zeros((n, model.nsensordata))
    for i in range(n):
        data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
        mujoco.mj_forward(model, data)
        sensordata[i] = data.sensordata
    return qpos, qvel, split_sensors(sensordata, sensor_slices(model))


def check_env_folder(folder: Path) -> list[str]:
    """Problems found in the env folder, each one line naming what to fix; empty when the env is usable."""
    import mujoco

    from rewardsmith.env.registry import load_module
    from rewardsmith.env.scaffold import mujoco_message

    missing = [f for f in ("model.xml", "env.py", "state_view.py") if not (folder / f).is_file()]
    if missing:
        return [f"{folder}: missing {', '.join(missing)}; an env folder needs model.xml, env.py and state_view.py"]
    try:
        model = mujoco.MjModel.from_xml_path(str(folder / "model.xml"))
    except Exception as exc:  # mujoco raises ValueError and others: one line, with MuJoCo's detail
        return [f"model.xml does not load in MuJoCo: {mujoco_message(exc)}; fix the MJCF"]
    problems: list[str] = []
    if model.nu == 0:
        problems.append("model.xml has no actuators; add at least one <actuator> for the policy to drive")
    try:
        import_mjx().put_model(model)
    except Exception as exc:  # an MJX-unsupported feature
        problems.append(f"model.xml is not MJX-compatible (mujoco.mjx.put_model failed: {mujoco_message(exc)});"
                        " remove or replace that feature")
    try:
        env_module = load_module(folder / "env.py", f"rewardsmith_check_{folder.name}")
        view_module = load_module(folder / "state_view.py", f"rewardsmith_check_{folder.name}_view")
    except Exception as exc:
        return [*problems, f"env.py or state_view.py does not import: {type(exc).__name__}: {exc}"]
    needed = ("DESCRIPTION", "FRAME_SKIP", "CAMERA", "observation", "initial_state", "TASKS")
    absent = [a for a in needed if not hasattr(env_module, a)]
    if absent:
        return [*problems, f"env.py does not define {', '.join(absent)}; it must define {', '.join(needed)}"]
    if not hasattr(view_module, "state_view"):
        return [*problems, "state_view.py does not define state_view(qpos, qvel, sensor, xp)"]
    if not (isinstance(env_module.FRAME_SKIP, int) and env_module.FRAME_SKIP >= 1):
        problems.append(f"env.py FRAME_SKIP is {env_module.FRAME_SKIP!r}; it must be an int >= 1")
    cameras = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, c) for c in range(model.ncam)]
    if env_module.CAMERA and env_module.CAMERA not in cameras:
        valid = ", ".join(c for c in cameras if c) or "none (set CAMERA = '' for the free camera)"
        problems.append(f"env.py CAMERA {env_module.CAMERA!r} is not a camera of model.xml; valid cameras: {valid}")
    tasks = list(env_module.TASKS)
    names = [getattr(t, "name", None) for t in tasks]
    if not tasks:
        problems.append("env.py TASKS is empty; add at least one rewardsmith.env.task.Task")
    if len(set(names)) != len(names):
        problems.append(f"env.py TASKS has repeated names ({', '.join(map(str, names))}); task names must be unique")
    for task in tasks:
        problems += _task_problems(folder, task)
    todo = placeholders(folder)
    if problems or todo or not tasks:
        return problems + todo
    return _check_view(model, env_module, view_module.state_view, tasks)


def _todo_lines(folder: Path) -> list[tuple[str, int, str]]:
    """(file, line number, text) of each line of the env's Python files that still holds the word TODO: `env new`
    marks every placeholder so (the description the LLM reads, the fitness, terminate and success stubs, the
    reward)."""
    files = [folder / "env.py", folder / "state_view.py", *sorted((folder / "rewards").glob("*.py"))]
    return [(str(path.relative_to(folder)), number, line.strip()) for path in files if path.is_file()
            for number, line in enumerate(path.read_text().splitlines(), 1) if "TODO" in line]


def placeholders(folder: Path) -> list[str]:
    """One problem per TODO line left."""
    return [f"{file} line {number} is a placeholder to write (then delete its TODO): {text}"
            for file, number, text in _todo_lines(folder)]


def refuse_placeholders(env) -> None:
    """An own env whose scaffold still holds a TODO is refused before a run: its fitness and terminate stubs raise,
    so every training would fail (the built-in envs hold none)."""
    from rewardsmith.errors import UserError
    from rewardsmith.resources import ENVS_DIR

    left = _todo_lines(env.folder) if env.folder.parent != ENVS_DIR else []
    if left:
        file, number, _ = left[0]
        raise UserError(f"env {env.name!r} has {len(left)} TODO placeholder(s) still to write (the first: {file} line "
                        f"{number}); `rewardsmith env check {env.name}` lists each")


def _task_problems(folder: Path, task) -> list[str]:
    """A task's settings: budgets, the texts the LLM reads for what it sets, its reference reward's file."""
    problems = []
    name = task.name
    if task.episode_steps < 1 or task.train_steps < 1:
        problems.append(f"task {name!r}: episode_steps and train_steps must be positive")
    if not task.description.strip():
        problems.append(f"task {name!r} has an empty description; describe the task for the LLM")
    if task.terminate is not None and not task.termination_doc.strip():
        problems.append(f"task {name!r} has a terminate but no termination_doc; say for the LLM when an episode "
                        "ends early (it completes 'An episode ends early when ...')")
    if task.fitness is not None and not task.score_doc.strip():
        problems.append(f"task {name!r} has a fitness but no score_doc; say for the LLM what the task score "
                        "measures, with its units")
    if task.success_threshold is not None:
        rule = f"its task score is at least {task.success_threshold:g}"
        if task.fitness is None:
            problems.append(f"task {name!r} has a success_threshold but no fitness to compare it with; write a "
                            "fitness or remove success_threshold")
        elif not task.success_doc.startswith(rule) and "TODO" not in task.success_doc:  # a TODO: placeholders()
            problems.append(f"task {name!r}: success_doc must start {rule!r} (its success_threshold), then say in "
                            f"words what that means; it starts {task.success_doc[:40]!r}")
    if not (folder / "rewards" / f"{name}.py").is_file():
        problems.append(f"task {name!r} has no reference reward; write rewards/{name}.py "
                        "(SCALES and reward_terms(s, action, xp))")
    return problems


def _check_view(model, env_module, state_view, tasks: list) -> list[str]:
    import jax.numpy as jnp

    try:
        qpos, qvel, sensor = _states(model, env_module, 8, tasks[0].name)
    except Exception as exc:
        return [f"initial_state(rng, qpos0, n, task) failed: {type(exc).__name__}: {exc}; it must return "
                f"(qpos [n,{model.nq}], qvel [n,{model.nv}])"]
    if qpos.shape != (8, model.nq) or qvel.shape != (8, model.nv):
        return [f"initial_state returned qpos {qpos.shape}, qvel {qvel.shape}; expected ({8}, {model.nq}) and "
                f"({8}, {model.nv}) for n = 8"]
    try:
        view_np = state_view(qpos, qvel, sensor, np)
        view_jx = state_view(jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32),
                             {k: jnp.asarray(v, jnp.float32) for k, v in sensor.items()}, jnp)
        obs = np.asarray(env_module.observation(qpos, qvel, sensor, np))
    except Exception as exc:
        return [f"state_view or observation failed: {type(exc).__name__}: {exc}; use only qpos, qvel, sensor and xp"]
    problems = []
    if not isinstance(view_np, dict) or not view_np:
        return ["state_view must return a non-empty dict of named arrays"]
    if obs.ndim != 2 or obs.shape[0] != 8 or not np.all(np.isfinite(obs)):
        problems.append(f"observation returned shape {obs.shape} (or non-finite values); expected finite [n, obs_dim]")
    for key, value in view_np.items():
        a = np.asarray(value)
        if a.shape[:1] != (8,):
            problems.append(f"state view field {key!r} has shape {a.shape}; the batch dimension must come first "
                            "(index with [..., i])")
        elif not np.all(np.isfinite(a)):
            problems.append(f"state view field {key!r} is not finite at the initial states")
        elif not np.allclose(a, np.asarray(view_jx[key]), rtol=1e-4, atol=1e-4):
            problems.append(f"state view field {key!r} differs between numpy and jax; compute it with xp only")
    if problems:
        return problems
    for task in tasks:
        for what in ("fitness", "terminate"):
            if getattr(task, what) is not None:
                problems += _per_step(task.name, what, getattr(task, what), view_np, view_jx)
    return problems


def _per_step(task: str, what: str, function, view_np: dict, view_jx: dict) -> list[str]:
    """A task's fitness or terminate on the 8 start states: one finite value per batch element, the same under
    numpy (the native trainer) and jitted jax (the MJX trainers trace it: numpy calls or Python branches on the
    values fail there)."""
    import jax
    import jax.numpy as jnp

    try:
        value = np.asarray(function(view_np, np), dtype=float)
        value_jx = np.asarray(jax.jit(lambda s: function(s, jnp))(view_jx), dtype=float)
    except Exception as exc:  # jax's tracing errors run to several lines: the first says what happened
        first = (str(exc).splitlines() or [""])[0]
        return [f"task {task!r}: {what}(s, xp) failed: {type(exc).__name__}: {first}; compute it from the state "
                "view `s` with xp only (no numpy calls or Python branches on its values: the MJX trainers jit it)"]
    if value.shape != (8,) or not np.all(np.isfinite(value)):
        return [f"task {task!r}: {what}(s, xp) gave shape {value.shape} (or non-finite values) for 8 states; it must "
                "give one finite value per batch element (index fields with [..., i])"]
    if not np.allclose(value, value_jx, rtol=1e-4, atol=1e-4):
        return [f"task {task!r}: {what}(s, xp) differs between numpy and jax; compute it with xp only"]
    return []
