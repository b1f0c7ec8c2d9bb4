"""`rewardsmith env new NAME --model robot.xml`: scaffold a user env folder from an MJCF file.

Writes <envs_dir>/<name>/ with model.xml (a copy), state_view.py (one documented field per named joint, body-free
sensor and actuator-free quantity the model names; its source is what the LLM reads, so edit its comments), env.py
(one task, `move`, for the user to describe) and rewards/move.py (a reference-reward stub). Nothing is written when
the name or folder is bad: the folder is built in a temporary sibling and renamed into place.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from rewardsmith.errors import UserError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_JOINT_KIND = {0: "free", 1: "ball", 2: "slide", 3: "hinge"}


class ScaffoldError(UserError):
    """Bad input to `env new`: one line naming what was wrong and what is valid."""


def _model_fields(model) -> tuple[list[str], list[str]]:
    import mujoco

    lines, notes = [], []
    for j in range(model.njnt):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
        kind = _JOINT_KIND[int(model.jnt_type[j])]
        if not name or kind not in ("slide", "hinge"):
            if name:
                notes.append(f"joint {name!r} ({kind}) is not in the view; add its qpos/qvel slices by hand")
            continue
        qa, va = int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])
        unit, vunit = ("m", "m/s") if kind == "slide" else ("rad", "rad/s")
        lines.append(f'        "{name}_pos": qpos[..., {qa}],  # {kind} joint {name!r} position ({unit})')
        lines.append(f'        "{name}_vel": qvel[..., {va}],  # {kind} joint {name!r} velocity ({vunit})')
    for s in range(model.nsensor):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_SENSOR, s)
        if name:
            dim = int(model.sensor_dim[s])
            shape = f"[..., {dim}]" if dim > 1 else "scalar per batch element"
            lines.append(f'        "{name}": sensor["{name}"],  # sensor {name!r}: {shape}; TODO: say what it measures')
    bodies = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, model.nbody)]
    named = [b for b in bodies if b]
    if named:
        notes.append(
            "bodies " + ", ".join(named) + ": body positions are not in qpos; add a framepos sensor to the model for "
            "any body whose position the reward needs"
        )
    return lines, notes


def _state_view_source(name: str, lines: list[str], notes: list[str]) -> str:
    note_text = "".join(f"    # {n}\n" for n in notes)
    body = "\n".join(lines) if lines else '        "qpos": qpos,  # TODO: the model names no joint or sensor'
    return (
        "def state_view(qpos, qvel, sensor, xp):\n"
        f'    """{name}: TODO describe the robot in a sentence or two (what moves, its ranges, what the action does).\n'
        "    Every field is an array with the batch dimensions first (use `...` indexing).\"\"\"\n"
        f"{note_text}"
        "    return {\n"
        f"{body}\n"
        "    }\n"
    )


_ENV_PY = '''"""{name}: a user env scaffolded by `rewardsmith env new` from {model}."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "TODO: one sentence on the robot and its actions."
FRAME_SKIP = 2
CAMERA = "{camera}"


def observation(qpos, qvel, sensor, xp):
    return xp.concatenate([qpos, qvel], axis=-1)


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1)) + rng.uniform(-0.01, 0.01, (n, qpos0.size))
    qvel = rng.normal(0.0, 0.01, (n, {nv}))
    return qpos, qvel


TASKS = [
    Task(
        name="move",
        description="TODO: describe the task for the LLM in a sentence or two.",
        episode_steps=200,
        train_steps=50_000,
    ),
]
'''

_REWARD_PY = '''"""Reference reward for {name} / move, written by a person (the LLM-free seed). TODO: fill in."""

SCALES = {{"alive": 1.0}}


def reward_terms(s, action, xp):
    return {{
        "alive": xp.ones_like(action[..., 0]),  # TODO: replace with terms computed from the state view `s`
    }}
'''


def scaffold(name: str, model_file: Path, envs_dir: Path, builtin_names: list[str]) -> Path:
    import mujoco

    if not _NAME.match(name):
        raise ScaffoldError(f"bad env name {name!r}; use lowercase letters, digits and _ starting with a letter")
    if name in builtin_names:
        raise ScaffoldError(f"env name {name!r} clashes with a built-in env; built-in envs: {', '.join(builtin_names)}")
    target = envs_dir / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or remove that folder")
    if not model_file.is_file():
        raise ScaffoldError(f"model file {model_file} does not exist; give an MJCF .xml file")
    try:
        model = mujoco.MjModel.from_xml_path(str(model_file))
    except Exception as exc:  # mujoco raises ValueError and others: one line
        raise ScaffoldError(f"model {model_file} does not load in MuJoCo: {str(exc).splitlines()[0]}") from None
    if model.nu == 0:
        raise ScaffoldError(f"model {model_file} has no actuators; the policy needs at least one <actuator>")
    lines, notes = _model_fields(model)
    camera = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, 0) if model.ncam else ""
    envs_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=envs_dir))
    try:
        shutil.copyfile(model_file, tmp / "model.xml")
        (tmp / "state_view.py").write_text(_state_view_source(name, lines, notes))
        (tmp / "env.py").write_text(_ENV_PY.format(name=name, model=model_file.name, camera=camera, nv=model.nv))
        (tmp / "rewards").mkdir()
        (tmp / "rewards" / "move.py").write_text(_REWARD_PY.format(name=name))
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
