"""The facts the LLM needs beyond the state view, generated from the env, the task and the run's training setup
(issue 15): when episodes end, how training works, what the policy observes, the body's joints and dimensions,
and what the contact flags mean. Every fact is read from code or the model, none is written per prompt; the
task's fitness (its code and its fitness_doc) never appears here.
"""

from __future__ import annotations

import inspect
import math
import pprint
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from rewardsmith.config import TrainConfig
from rewardsmith.env.registry import EnvSpec
from rewardsmith.env.sim import NativeBatch, sensor_slices, split_sensors
from rewardsmith.env.task import Task
from rewardsmith.llm import prompts
from rewardsmith.train.trainers import children_inherit, trainer

if TYPE_CHECKING:
    from rewardsmith.context import RunContext

_PERTURB = 0.1  # how far one input is moved to see whether the observation depends on it
_ROLLOUT_ENVS, _ROLLOUT_STEPS = 16, 100  # the random-action rollout that checks which state fields are 0/1 flags


def prompt_facts(ctx: RunContext, scored: bool = True) -> dict[str, str]:
    """The template variables of prompts/first.md that are facts about the env, the task and the training (`scored`:
    the LLM sees task scores; where people rank it does not, and no fact speaks of success)."""
    model = load_model(ctx.env)
    return {
        "episode_seconds": f"{ctx.task.episode_steps * control_dt(ctx.env, model):g}",
        "termination": episode_end_text(ctx),
        "training": training_text(ctx, scored),
        "observation": observation_text(ctx.env, model),
        "body": body_text(ctx.env, ctx.task, model),
        "contacts": contact_text(ctx.env, ctx.task, model),
    }


def load_model(env: EnvSpec) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(env.model_path))


def control_dt(env: EnvSpec, model: mujoco.MjModel) -> float:
    return float(model.opt.timestep * env.frame_skip)


def _name(model: mujoco.MjModel, kind: mujoco.mjtObj, i: int) -> str:
    return mujoco.mj_id2name(model, kind, i) or f"#{i}"


# ---- episodes and training ----------------------------------------------------------------------------------------

def termination_doc(env: EnvSpec, task: Task) -> str:
    """The task's own words; a free-text task inherits the terminate rule of a named task, and its words with it."""
    if task.termination_doc:
        return task.termination_doc
    return next((t.termination_doc for t in env.tasks if t.terminate is task.terminate and t.termination_doc), "")


def termination_text(env: EnvSpec, task: Task) -> str:
    if task.terminate is None:
        return (f"Episodes never end early: every episode lasts the full {task.episode_steps} control steps, "
                "whatever the body does.")
    doc = termination_doc(env, task) or "an env-specific termination rule holds (not described)"
    return (f"An episode ends early when {doc}. The steps it did not reach earn no reward, so if the reward per "
            "step is on average negative the policy learns to end episodes early; a positive reward per step "
            f"pays it to avoid ending them. Otherwise an episode lasts {task.episode_steps} control steps; reaching "
            "that time limit is not a failure (training bootstraps the value of the last state).")


def episode_end_text(ctx: RunContext) -> str:
    """When an episode ends; with evolve --evolve-termination also the optional terminate(s, xp) the module may
    define, beside the task's own rule (prompts/terminate.md)."""
    task = ctx.task
    if not ctx.cfg.evolve_termination:
        return termination_text(ctx.env, task)
    if task.terminate is None:
        return (f"The task itself never ends an episode early: without a terminate of yours (below) every episode "
                f"lasts the full {task.episode_steps} control steps, whatever the body does.\n\n"
                + prompts.render("terminate", own_rule="this task has none").strip())
    own_rule = f"an episode ends early when {termination_doc(ctx.env, task) or 'an env-specific rule holds'}"
    return termination_text(ctx.env, task) + "\n\n" + prompts.render("terminate", own_rule=own_rule).strip()


def training_text(ctx: RunContext, scored: bool = True) -> str:
    """What is true of the configured trainer at the run's settings (the trainer's own facts, train/trainers.py)."""
    cfg = ctx.training_config()
    lines = trainer(ctx.cfg.trainer).prompt_facts(cfg, ctx.env, ctx.task)
    lines += budget_lines(ctx, cfg, scored)
    lines.append(f"Your reward is computed once per control step, after the action was applied for "
                 f"{ctx.env.frame_skip} physics steps: `s` is the state AFTER the step, `action` the action that "
                 "led to it.")
    return "\n".join(f"- {line}" for line in lines)


def budget_lines(ctx: RunContext, cfg: TrainConfig, scored: bool = True) -> list[str]:
    """Why a candidate may train fewer steps than the budget (an LLM otherwise reads "reached success at 737,280
    steps" against a budget of 5,000,000 without knowing why)."""
    lines = []
    if cfg.stop_at_success and ctx.task.success_threshold is not None and not scored:
        lines.append("A training may finish early at a checkpoint (\"finished early at N steps\").")
    elif cfg.stop_at_success and ctx.task.success_threshold is not None:
        lines.append(f"A training stops early once a deterministic evaluation at a checkpoint reaches a task success "
                     f"rate of {cfg.stop_success_rate:g} (\"reached success at N steps\"): a reward that teaches the "
                     "task sooner trains fewer steps.")
    if children_inherit(ctx.cfg, cfg, ctx.task.episode_steps):
        confirmed = (" The run's answer is decided on trainings from scratch at the end: what counts is how well a "
                     "reward teaches the task to a fresh policy; starting from the parent's policy only makes the "
                     "search cheaper." if ctx.cfg.final_seeds and ctx.task.has_fitness else "")
        lines.append("From the second generation on, where the parent (the best candidate so far) does the task, "
                     "a candidate's training starts from the parent's trained policy and runs half the budget (the "
                     f"results then say \"from <parent>'s policy\").{confirmed}")
    lines.append("Where the budget is shared out (halving), every candidate first trains part of it and "
                 "the better ones continue: the last generation's table says how many steps each trained.")
    return lines


def _coordinates(model: mujoco.MjModel) -> tuple[list[str], list[str]]:
    """A label for every entry of qpos and of qvel, from the model's joints."""
    qpos: list[str] = []
    qvel: list[str] = []
    for j in range(model.njnt):
        name, kind = _name(model, mujoco.mjtObj.mjOBJ_JOINT, j), int(model.jnt_type[j])
        if kind == mujoco.mjtJoint.mjJNT_FREE:
            qpos += [f"{name} x", f"{name} y", f"{name} z"] + [f"{name} quaternion {c}" for c in "wxyz"]
            qvel += [f"{name} velocity {c}" for c in "xyz"] + [f"{name} angular velocity {c}" for c in "xyz"]
        elif kind == mujoco.mjtJoint.mjJNT_BALL:
            qpos += [f"{name} quaternion {c}" for c in "wxyz"]
            qvel += [f"{name} angular velocity {c}" for c in "xyz"]
        else:
            qpos.append(name)
            qvel.append(f"{name} velocity")
    return qpos, qvel


def _unobserved(env: EnvSpec, model: mujoco.MjModel) -> tuple[list[str], list[str], list[str], int]:
    """Which qpos and qvel entries the observation ignores, which sensors it reads, and its size: each input is
    moved on its own (the sensors recomputed by MuJoCo from the moved state) and the observation compared."""
    slices = sensor_slices(model)
    data = mujoco.MjData(model)

    def observe(q: np.ndarray, v: np.ndarray, moved_sensor: slice | None = None) -> np.ndarray:
        data.qpos[:], data.qvel[:] = q, v
        mujoco.mj_forward(model, data)
        sensors = data.sensordata.copy()
        if moved_sensor is not None:
            sensors[moved_sensor] += _PERTURB
        return np.asarray(env.observation(q, v, split_sensors(sensors, slices), np), dtype=np.float64)

    qpos, qvel = model.qpos0.astype(np.float64), np.zeros(model.nv)
    base = observe(qpos, qvel)

    def moved(array: np.ndarray, index: int) -> np.ndarray:
        out = array.copy()
        out[index] += _PERTURB
        return out

    q_labels, v_labels = _coordinates(model)
    hidden_q = [q_labels[i] for i in range(model.nq) if np.allclose(observe(moved(qpos, i), qvel), base)]
    hidden_v = [v_labels[i] for i in range(model.nv) if np.allclose(observe(qpos, moved(qvel, i)), base)]
    read = [name for name, cols in slices.items() if not np.allclose(observe(qpos, qvel, cols), base)]
    return hidden_q, hidden_v, read, int(base.shape[-1])


_LITERALS = (bool, int, float, str, tuple, list, dict, frozenset)


def _constants_used(function: Callable[..., Any]) -> list[str]:
    """`NAME = value` for each module-level constant the function reads (a relay LLM met humanoid's `_CONTACTS` in the
    observation's source with no idea what it held); modules and functions it calls are left out."""
    names = [n for n in function.__code__.co_names if isinstance(function.__globals__.get(n), _LITERALS)]
    return [f"{n} = {pprint.pformat(function.__globals__[n], width=110, compact=True)}" for n in dict.fromkeys(names)]


def observation_text(env: EnvSpec, model: mujoco.MjModel) -> str:
    hidden_q, hidden_v, sensors, size = _unobserved(env, model)
    q_labels, _ = _coordinates(model)
    constants = "".join(line + "\n" for line in _constants_used(env.observation))
    source = (constants + "\n" if constants else "") + textwrap.dedent(inspect.getsource(env.observation)).strip()
    lines = [
        f"The policy sees a vector of {size} numbers, made by this function of the env (qpos = [{', '.join(q_labels)}]"
        "; qvel = their velocities; sensor = named MuJoCo sensors):",
        f"```python\n{source}\n```",
    ]
    hidden = [*hidden_q, *hidden_v]
    lines.append(f"Not in the observation: {', '.join(hidden)}. The policy cannot see these; a reward that depends "
                 "on them is learned only through what it does see (e.g. the matching velocities)." if hidden else
                 "Every position and velocity of the body is in the observation.")
    if sensors:
        lines.append(f"Sensors in the observation: {', '.join(sensors)}.")
    return "\n".join(lines)


# ---- the body ---------------------------------------------------------------------------------------------------

def _start_pose(env: EnvSpec, task: Task, model: mujoco.MjModel) -> mujoco.MjData:
    """The mean initial state of the task (the env's initial_state draws it with small noise)."""
    qpos, qvel = env.initial_state(np.random.default_rng(0), model.qpos0.copy(), 64, task.name)
    data = mujoco.MjData(model)
    data.qpos[:] = np.mean(qpos, axis=0)
    data.qvel[:] = np.mean(qvel, axis=0)
    mujoco.mj_forward(model, data)
    return data


def _range(model: mujoco.MjModel, j: int) -> str:
    if not model.jnt_limited[j]:
        return "unlimited"
    low, high = model.jnt_range[j]
    if int(model.jnt_type[j]) == mujoco.mjtJoint.mjJNT_SLIDE:
        return f"{low:.2f} to {high:.2f} m"
    return f"{math.degrees(low):.0f} to {math.degrees(high):.0f} deg"


def joint_lines(model: mujoco.MjModel) -> list[str]:
    """The joints in action order ([i] = action[..., i]), then the joints no motor drives, with their ranges."""
    def line(j: int, motor: str) -> str:
        return f"{_name(model, mujoco.mjtObj.mjOBJ_JOINT, j)}: {_range(model, j)}{motor}"

    lines, driven = [], set()
    for a in range(model.nu):
        if int(model.actuator_trntype[a]) != mujoco.mjtTrn.mjTRN_JOINT:
            continue
        j = int(model.actuator_trnid[a, 0])
        unit = "N" if int(model.jnt_type[j]) == mujoco.mjtJoint.mjJNT_SLIDE else "N m"
        lines.append(f"- [{a}] {line(j, f', motor up to {float(model.actuator_gear[a, 0]):g} {unit} at action ±1')}")
        driven.add(j)
    for j in range(model.njnt):
        if j not in driven and int(model.jnt_type[j]) not in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
            lines.append(f"- {line(j, ', not actuated')}")
    return lines


def body_lines(model: mujoco.MjModel, data: mujoco.MjData) -> list[str]:
    """Mass, height at the start and distance to the next body down the chain (a limb's length) of each body."""
    lines = []
    for b in range(1, model.nbody):
        children = [c for c in range(1, model.nbody) if model.body_parentid[c] == b]
        length = (f", {np.linalg.norm(data.xpos[children[0]] - data.xpos[b]):.2f} m to "
                  f"{_name(model, mujoco.mjtObj.mjOBJ_BODY, children[0])}" if len(children) == 1 else "")
        lines.append(f"- {_name(model, mujoco.mjtObj.mjOBJ_BODY, b)}: {model.body_mass[b]:.2f} kg, origin at "
                     f"z {data.xpos[b][2]:.2f} m{length}")
    return lines


def body_text(env: EnvSpec, task: Task, model: mujoco.MjModel) -> str:
    data = _start_pose(env, task, model)
    top = max((data.geom_xpos[g][2] + model.geom_rbound[g] for g in range(model.ngeom)
               if model.geom_bodyid[g] > 0), default=0.0)
    total = float(np.sum(model.body_mass[1:]))
    return "\n".join([
        f"Total mass {total:.1f} kg; at the start the highest point of the body is about {top:.2f} m up and the "
        f"centre of mass at z {data.subtree_com[0][2]:.2f} m (gravity {abs(model.opt.gravity[2]):g} m/s^2).",
        "Joints ([i]: driven by action[..., i]; angle ranges; strongest torque or force):",
        *joint_lines(model),
        "Bodies (mass; height of the body's origin, its joint, at the start; distance to the next body):",
        *body_lines(model, data),
    ])


# ---- contacts ---------------------------------------------------------------------------------------------------

def flag_fields(env: EnvSpec, task: Task, model: mujoco.MjModel) -> list[str]:
    """Fields of the state view that were exactly 0.0 or 1.0 on every step of a random-action rollout."""
    batch = NativeBatch(env, task.name, _ROLLOUT_ENVS, seed=0, nthread=1)
    rng = np.random.default_rng(0)
    seen: dict[str, list[np.ndarray]] = {}
    try:
        for _ in range(_ROLLOUT_STEPS):
            batch.step(rng.uniform(-1.0, 1.0, (_ROLLOUT_ENVS, model.nu)))
            raw = batch.raw()
            for key, value in env.state_view(raw.qpos, raw.qvel, batch.sensors(), np).items():
                seen.setdefault(key, []).append(np.asarray(value))
    finally:
        batch.close()
    flags = []
    for key, values in seen.items():
        stacked = np.concatenate([v.ravel() for v in values])
        if np.all((stacked == 0.0) | (stacked == 1.0)):
            flags.append(key)
    return flags


def contact_text(env: EnvSpec, task: Task, model: mujoco.MjModel) -> str:
    contacts = [s for s in range(model.nsensor) if int(model.sensor_type[s]) == mujoco.mjtSensor.mjSENS_CONTACT]
    if not contacts:
        return "The model has no contact sensors; the state view carries no contact flags."
    flags = flag_fields(env, task, model)
    margin = float(np.max(model.geom_margin)) if model.ngeom else 0.0
    touching = ("the two geoms touch or interpenetrate (no margin: a gap of even 1 mm reads 0)" if margin == 0.0 else
                f"the two geoms are within {margin:g} m of each other")
    lines = [
        f"Contact sensors ({len(contacts)}) report whether MuJoCo's collision detection found a contact between a "
        f"body part and the floor in the state after the step: a contact exists when {touching}. A part resting "
        "on the floor reads contact on every step; there is no force, depth or distance.",
    ]
    if flags:
        lines.append(f"These fields of `s` are flags, exactly 0.0 or 1.0 (never in between, checked on a "
                     f"random-action rollout): {', '.join(flags)}. Averages or sums of them are fractions/counts.")
    return "\n".join(lines)
