"""`rewardsmith env new NAME --model robot.xml`: scaffold a user env folder from an MJCF file.

Writes <envs_dir>/<name>/ with
  model.xml      a copy; for a floating robot without a tracking camera, one is added to its root body (the films
                 use it, so the robot stays in the picture as it moves)
  state_view.py  one documented field per named hinge/slide joint and named sensor, and for each free joint (a
                 floating robot's root) its body's position, height, up and forward axes and linear and angular
                 velocity; its source is what the LLM reads, so its comments are the user's to complete
  env.py         one task, `move`, with fitness and terminate stubs and TODO texts for the user to write; the start
                 state adds noise to hinge/slide joints only (noise on a quaternion would leave it unnormalised)
  rewards/move.py  a reference-reward stub
Every placeholder holds the word TODO, and `env check` refuses the env while one is left (check.py). Nothing is
written when the name, model or folder is bad: the folder is built in a temporary sibling and renamed into place.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewardsmith.errors import UserError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_JOINT_KIND = {0: "free", 1: "ball", 2: "slide", 3: "hinge"}
_TRACKING_MODES = (1, 2)  # mjCAMLIGHT_TRACK, mjCAMLIGHT_TRACKCOM: the camera follows a body


class ScaffoldError(UserError):
    """Bad input to `env new`: one line naming what was wrong and what is valid."""


def mujoco_message(exc: Exception) -> str:
    """MuJoCo's load error on one line: its first line alone ("XML parse error 14:") drops the detail after it."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


@dataclass
class _Fields:
    lines: list[str]  # the state view's dict entries
    notes: list[str]  # comments on what the view leaves out
    free_bodies: list[int]  # body ids with a free joint (a floating robot's root, or a loose object)
    joint_qpos: list[int]  # qpos indices of hinge and slide joints (the only ones the start state perturbs)
    planar_qpos: list[int]  # qpos indices of free joints' world x and y (the observation leaves them out)


def _name(model, kind, i: int) -> str:
    import mujoco

    return mujoco.mj_id2name(model, getattr(mujoco.mjtObj, kind), i) or ""


def _free_fields(model, joint: int, key: str) -> list[str]:
    """The fields a floating robot's reward needs, from its free joint: qpos = world position (3) and orientation
    quaternion (4, w x y z); qvel = world linear velocity (3) and angular velocity in the body's own frame (3)."""
    qa, va = int(model.jnt_qposadr[joint]), int(model.jnt_dofadr[joint])
    z0 = float(model.qpos0[qa + 2])
    quat = f"qpos[..., {qa + 3}:{qa + 7}]"
    return [
        f'        "{key}_pos": qpos[..., {qa}:{qa + 3}],  # [..., 3] world position of {key} (m)',
        f'        "{key}_height": qpos[..., {qa + 2}],  # height of {key} (m); {z0:.3g} in model.xml',
        f'        "{key}_up": _axis({quat}, 2, xp),  # [..., 3] world direction of {key}\'s z axis; [..., 2] is 1 '
        "upright, 0 on its side, -1 upside down",
        f'        "{key}_forward": _axis({quat}, 0, xp),  # [..., 3] world direction of {key}\'s x axis',
        f'        "{key}_velocity": qvel[..., {va}:{va + 3}],  # [..., 3] world linear velocity of {key} (m/s); '
        "[..., 0] along +x",
        f'        "{key}_angular_velocity": qvel[..., {va + 3}:{va + 6}],  # [..., 3] angular velocity of {key} in '
        "its own frame (rad/s)",
    ]


def _model_fields(model) -> _Fields:
    fields = _Fields([], [], [], [], [])
    for j in range(model.njnt):
        name, kind = _name(model, "mjOBJ_JOINT", j), _JOINT_KIND[int(model.jnt_type[j])]
        qa, va = int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])
        if kind == "free":
            body = int(model.jnt_bodyid[j])
            fields.free_bodies.append(body)
            fields.planar_qpos += [qa, qa + 1]
            fields.lines += _free_fields(model, j, _name(model, "mjOBJ_BODY", body) or name or "root")
        elif kind == "ball":
            if name:
                fields.notes.append(f"joint {name!r} (ball) is not in the view; add its qpos/qvel slices by hand")
        else:
            fields.joint_qpos.append(qa)
            if name:
                unit, vunit = ("m", "m/s") if kind == "slide" else ("rad", "rad/s")
                fields.lines += [f'        "{name}_pos": qpos[..., {qa}],  # {kind} joint {name!r} position ({unit})',
                                 f'        "{name}_vel": qvel[..., {va}],  # {kind} joint {name!r} velocity ({vunit})']
    for s in range(model.nsensor):
        name = _name(model, "mjOBJ_SENSOR", s)
        if name:
            dim = int(model.sensor_dim[s])
            shape = f"[..., {dim}]" if dim > 1 else "scalar per batch element"
            fields.lines.append(f'        "{name}": sensor["{name}"],  # sensor {name!r}: {shape}; TODO: say what it '
                                "measures")
    named = [n for b in range(1, model.nbody) if b not in fields.free_bodies and (n := _name(model, "mjOBJ_BODY", b))]
    if named:
        fields.notes.append(
            "bodies " + ", ".join(named) + ": body positions are not in qpos; add a framepos sensor to the model for "
            "any body whose position the reward needs"
        )
    return fields


_AXIS_HELPER = '''

def _axis(quat, i, xp):
    """World direction of a body's own axis i (0 = x, 1 = y, 2 = z), from its orientation quaternion (w, x, y, z)."""
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    columns = (
        (1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)),
        (2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)),
        (2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)),
    )
    return xp.stack(columns[i], axis=-1)
'''


def _state_view_source(name: str, fields: _Fields) -> str:
    note_text = "".join(f"    # {n}\n" for n in fields.notes)
    nothing = '        "qpos": qpos,  # TODO: the model names no joint or sensor'
    body = "\n".join(fields.lines) if fields.lines else nothing
    return (
        "def state_view(qpos, qvel, sensor, xp):\n"
        f'    """{name}: TODO describe the robot in a sentence or two (what moves, its ranges, what the action does).\n'
        "    Every field is an array with the batch dimensions first (use `...` indexing).\"\"\"\n"
        f"{note_text}"
        "    return {\n"
        f"{body}\n"
        "    }\n"
        f"{_AXIS_HELPER if fields.free_bodies else ''}"
    )


_ENV_PY = '''"""{name}: a user env scaffolded by `rewardsmith env new` from {model}.
`rewardsmith env check {name}` names each placeholder still to write."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "TODO: one sentence on the robot and its actions."
FRAME_SKIP = 2
CAMERA = "{camera}"
# qpos indices of the hinge and slide joints: the start state adds a little noise to these only. A free or ball
# joint keeps model.xml's orientation (noise added to a quaternion leaves it unnormalised).
JOINT_QPOS = {joint_qpos}
# the qpos indices the policy observes: all but a free joint's world x and y (where it is, not how it moves)
OBS_QPOS = {obs_qpos}


def observation(qpos, qvel, sensor, xp):
    return xp.concatenate([qpos[..., OBS_QPOS], qvel], axis=-1)


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1))
    qpos[:, JOINT_QPOS] += rng.uniform(-0.01, 0.01, (n, len(JOINT_QPOS)))
    qvel = rng.normal(0.0, 0.01, (n, {nv}))
    return qpos, qvel


def fitness(s, xp):
    """The task score per control step from the state view `s` (higher is better), never shown to the LLM.
    Selection ranks rewards by its mean over an episode; steps after an early end count 0."""
    raise NotImplementedError("TODO: return the score per step, e.g. {fitness_example}")


def terminate(s, xp):
    """Where an episode ends early (e.g. the robot fell over): a bool per batch element. For episodes that always
    run their full length, delete it and the task's terminate= and termination_doc= lines."""
    raise NotImplementedError("TODO: return where to end, e.g. {terminate_example}")


TASKS = [
    Task(
        name="move",
        description="TODO: the task for the LLM in a sentence or two.",
        episode_steps=200,
        train_steps=50_000,
        fitness=fitness,
        score_doc="TODO: for the LLM, what the task score measures with its units (not the code)",
        success_threshold=1.0,  # TODO: the task score at which an episode counts as a success
        success_doc="TODO: for the LLM, starting 'its task score is at least <success_threshold>: ' in words",
        terminate=terminate,
        termination_doc="TODO: for the LLM, when terminate ends an episode (completes 'An episode ends early when')",
    ),
]
'''

_REWARD_PY = '''"""Reference reward for {name} / move, written by a person (the LLM-free seed). TODO: fill in."""

SCALES = {{"alive": 1.0}}


def reward_terms(s, action, xp):
    return {{
        # TODO: terms computed from the state view `s`, each with its weight in SCALES{reward_example}
        "alive": xp.ones_like(action[..., 0]),
    }}
'''


def _examples(model, fields: _Fields) -> tuple[str, str, str]:
    """Examples for the stubs' TODO texts (fitness, terminate, reward term), in the fields the view has."""
    if fields.free_bodies:
        key = _name(model, "mjOBJ_BODY", _robot_root(model, fields.free_bodies)) or "root"
        return (f"s['{key}_velocity'][..., 0] (speed along +x, m/s)", f"s['{key}_up'][..., 2] < 0 (upside down)",
                f', e.g. "forward": s["{key}_velocity"][..., 0]')
    first = fields.lines[0].split('"')[1] if fields.lines else "qpos"
    return f"xp.abs(s['{first}'])", f"xp.abs(s['{first}']) > 1.0", ""


def _robot_root(model, free_bodies: list[int]) -> int:
    """The free body the actuators move (the robot, not a loose ball), else the first free body."""
    driven = [int(model.body_rootid[model.jnt_bodyid[model.actuator_trnid[a, 0]]]) for a in range(model.nu)
              if int(model.actuator_trntype[a]) == 0]  # mjTRN_JOINT
    return max(free_bodies, key=lambda b: driven.count(b))


def _robot_radius(model, root: int) -> float:
    """How far the robot's geoms reach from its centre of mass at qpos0 (m): sets the tracking camera's distance."""
    import mujoco

    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    mine = [g for g in range(model.ngeom) if int(model.body_rootid[model.geom_bodyid[g]]) == root]
    reach = [np.linalg.norm(data.geom_xpos[g] - data.subtree_com[root]) + model.geom_rbound[g] for g in mine]
    return max([0.1, *reach])


def _camera(model, fields: _Fields) -> tuple[str, int | None, float]:
    """(CAMERA, the body to add a tracking camera to or None, robot radius): a tracking camera the model has; else,
    for a floating robot, one to add (a fixed camera loses a robot that walks away); else its first camera."""
    for c in range(model.ncam):
        if int(model.cam_mode[c]) in _TRACKING_MODES and _name(model, "mjOBJ_CAMERA", c):
            return _name(model, "mjOBJ_CAMERA", c), None, 0.0
    if fields.free_bodies:
        root = _robot_root(model, fields.free_bodies)
        taken = {_name(model, "mjOBJ_CAMERA", c) for c in range(model.ncam)}
        name = next(n for n in ("track", *(f"track{i}" for i in range(1, 100))) if n not in taken)
        return name, root, _robot_radius(model, root)
    return (_name(model, "mjOBJ_CAMERA", 0) if model.ncam else ""), None, 0.0


def _top_body_tags(data: bytes) -> list[tuple[str | None, int]]:
    """(name, byte offset of the start tag) of each body directly under <worldbody>, in document order."""
    import xml.parsers.expat

    parser = xml.parsers.expat.ParserCreate()
    stack: list[str] = []
    tops: list[tuple[str | None, int]] = []

    def start(tag, attrs):
        if tag == "body" and stack[1:] == ["worldbody"]:
            tops.append((attrs.get("name"), parser.CurrentByteIndex))
        stack.append(tag)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.Parse(data, True)
    return tops


def _tag_end(data: bytes, start: int) -> int:
    """The offset just past the start tag at `start` (a '>' inside a quoted attribute value does not end it)."""
    quote = None
    for i in range(start, len(data)):
        char = data[i:i + 1]
        if quote is not None:
            quote = None if char == quote else quote
        elif char in (b'"', b"'"):
            quote = char
        elif char == b">":
            return i + 1
    return len(data)


def _with_camera(model_file: Path, model, body: int, name: str, radius: float) -> bytes | None:
    """model.xml's bytes with one line added: a trackcom camera in the robot's root body, behind it (-y) and above,
    looking at it. None where that body's tag is not in the file (an include, a frame) or the file does not parse
    here; the user's file stays as it is byte for byte otherwise."""
    import xml.parsers.expat

    data = model_file.read_bytes()
    try:
        tops = _top_body_tags(data)
    except xml.parsers.expat.ExpatError:  # MuJoCo's parser accepted what expat does not
        return None
    body_name = _name(model, "mjOBJ_BODY", body)
    model_tops = [b for b in range(1, model.nbody) if int(model.body_parentid[b]) == 0]
    if body_name:
        where = next((at for tag_name, at in tops if tag_name == body_name), None)
    else:  # MuJoCo numbers bodies in document order
        where = tops[model_tops.index(body)][1] if len(tops) == len(model_tops) else None
    if where is None:
        return None
    end = _tag_end(data, where)
    blank = re.match(rb"\s*", data[end:])  # always matches (possibly empty)
    indent = (blank.group() if blank else b"").split(b"\n")[-1]
    back, up = round(3.5 * radius, 2), round(1.3 * radius, 2)
    camera = (f'<camera name="{name}" mode="trackcom" pos="0 {-back} {up}" xyaxes="1 0 0 0 {up} {back}"/>'
              "  <!-- added by rewardsmith env new: the films follow the robot -->")
    return data[:end] + b"\n" + indent + camera.encode() + data[end:]


def _check_name(name: str, model_file: Path, target: Path, builtin_names: list[str]) -> None:
    if not _NAME.match(name):
        raise ScaffoldError(f"bad env name {name!r}; use lowercase letters, digits and _ starting with a letter")
    if name in builtin_names:
        raise ScaffoldError(f"env name {name!r} clashes with a built-in env; built-in envs: {', '.join(builtin_names)}")
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or remove that folder")
    if not model_file.is_file():
        raise ScaffoldError(f"model file {model_file} does not exist; give an MJCF .xml file")


def _load(model_file: Path, what: str, fix: str = "fix the MJCF"):
    import mujoco

    try:
        return mujoco.MjModel.from_xml_path(str(model_file))
    except Exception as exc:  # mujoco raises ValueError and others
        raise ScaffoldError(f"{what} does not load in MuJoCo: {mujoco_message(exc)}; {fix}") from None


def scaffold(name: str, model_file: Path, envs_dir: Path, builtin_names: list[str]) -> Path:
    target = envs_dir / name
    _check_name(name, model_file, target, builtin_names)
    model = _load(model_file, f"model {model_file}")
    if model.nu == 0:
        raise ScaffoldError(f"model {model_file} has no actuators; the policy needs at least one <actuator>")
    _write_folder(_files(name, model_file, model), envs_dir, target)
    return target


def _files(name: str, model_file: Path, model) -> dict[str, bytes]:
    """The env folder's files by relative path."""
    fields = _model_fields(model)
    camera, camera_body, radius = _camera(model, fields)
    model_bytes = _with_camera(model_file, model, camera_body, camera, radius) if camera_body is not None else None
    if camera_body is not None and model_bytes is None:
        camera = ""  # the root body is built outside the file (an include): the free camera
    fitness_example, terminate_example, reward_example = _examples(model, fields)
    obs_qpos = [i for i in range(model.nq) if i not in fields.planar_qpos]
    env_py = _ENV_PY.format(name=name, model=model_file.name, camera=camera, nv=model.nv, joint_qpos=fields.joint_qpos,
                            obs_qpos=obs_qpos, fitness_example=fitness_example, terminate_example=terminate_example)
    return {"model.xml": model_bytes if model_bytes is not None else model_file.read_bytes(),
            "state_view.py": _state_view_source(name, fields).encode(), "env.py": env_py.encode(),
            "rewards/move.py": _REWARD_PY.format(name=name, reward_example=reward_example).encode()}


def write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)


def _write_folder(files: dict[str, bytes], envs_dir: Path, target: Path) -> None:
    """Builds the folder in a temporary sibling and renames it into place: a failure (a read-only folder, a full
    disk, a copied model.xml that does not load) leaves nothing behind, not even an envs folder made for it."""
    made = not envs_dir.exists()
    try:
        envs_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=envs_dir))
    except OSError as exc:
        raise ScaffoldError(f"cannot write in {envs_dir}: {exc.strerror or exc}; give a folder you can write to "
                            "(--envs-dir DIR or REWARDSMITH_ENVS)") from None
    try:
        for relative, content in files.items():
            write_file(tmp / relative, content)
        _load(tmp / "model.xml", "the model loads, but its copy in the env folder",  # relative asset paths
              "the env folder holds model.xml alone: name mesh, texture and include files by absolute path")
        tmp.rename(target)
    except OSError as exc:
        raise ScaffoldError(f"cannot write the env in {envs_dir}: {exc.strerror or exc}; give a folder you can write "
                            "to (--envs-dir DIR or REWARDSMITH_ENVS)") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename
        if made and not target.exists():
            shutil.rmtree(envs_dir, ignore_errors=True)  # empty: made here, for this env alone
