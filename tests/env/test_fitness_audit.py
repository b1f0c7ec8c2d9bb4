"""The task fitness cannot be gamed: for every env, the obvious exploits of its tasks (tumbling along the floor
instead of flipping in the air, a bouncing tumble that lands on the body instead of the feet, lying upside down and
wriggling, walking on the knees, standing tall instead of jumping, spinning the pole through the top, diving forward,
collapsing) are written as scripted policies or as physics rollouts from constructed states, stepped through the real
physics, and must score below the task's success threshold. Where an exploit was found in a fitness version that a
later one closes, the earlier version (kept in the env module) is run on the same rollout and must score it at or
above the threshold, so the comparison is real. Where it is cheap, a positive control shows that a state that really
does the task still scores above it. Terminations are audited the same way: a fall that must end the episode, and a
real pose that must not.

The episode fitness is computed as rewardsmith.train.rollouts does: the per-step fitness of the state after each
control step, summed while the episode is alive (termination respected), divided by the task's episode length. A
test that runs fewer steps divides by the steps it ran: the mean rate of an exploit that repeats, and never less than
the full episode's score for an exploit that ends the episode.

Where a scripted exploit needs to keep going (a body kept sliding, a hopper kept spinning), the state is "relaunched"
every few steps: the batch is reset to the constructed state again, and the fitness of every step in between counts.
"""

from __future__ import annotations

import dataclasses
import sys

import mujoco
import numpy as np
import pytest

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.env.sim import NativeBatch
from rewardsmith.evaluate.exploits import exploits_for, matches


def _episode(env_name, task_name, policy=None, n=8, seed=0, steps=None, start=None, relaunch=None, measure=None,
             task=None, record=None):
    """Mean episode fitness per env (numpy [n]) of `policy` ((state view, step) -> action [n, nu]; None = zero
    action); `start(rng, qpos0, n)` -> (qpos, qvel) replaces the env's initial state (and is what `relaunch` every
    that many steps resets to). `measure` {name: s -> [n]}: other per-step quantities, summed over the same steps and
    divided the same way; returns (fitness, {name: mean}). `task` replaces the registered task (e.g. an earlier
    version of its fitness and termination). `record`, a list: each step's (state view after it, alive before it) is
    appended, for the exploit detectors (_detected)."""
    env = get_env(env_name)
    task = task or env.task(task_name)
    if start is not None:
        env = dataclasses.replace(env, initial_state=lambda rng, qpos0, k, _task: start(rng, qpos0.copy(), k))
    steps = steps or task.episode_steps
    sim = NativeBatch(env, task_name, n, seed=seed, nthread=2)
    alive = np.ones(n, dtype=bool)
    fitness = np.zeros(n)
    measured = {name: np.zeros(n) for name in measure or {}}
    try:
        for t in range(steps):
            raw = sim.raw()
            s = env.state_view(raw.qpos, raw.qvel, sim.sensors(), np)
            action = np.zeros((n, sim.model.nu)) if policy is None else policy(s, t)
            sim.step(np.broadcast_to(action, (n, sim.model.nu)))
            raw = sim.raw()
            s = env.state_view(raw.qpos, raw.qvel, sim.sensors(), np)
            if record is not None:
                record.append(({k: np.array(v) for k, v in s.items()}, alive.copy()))  # s views the sim's buffers
            live = alive.astype(np.float64)
            fitness += live * np.asarray(task.fitness(s, np), dtype=np.float64)
            for name, fn in (measure or {}).items():
                measured[name] += live * np.asarray(fn(s), dtype=np.float64)
            if task.terminate is not None:
                alive &= ~np.asarray(task.terminate(s, np), dtype=bool)
            if relaunch and (t + 1) % relaunch == 0:
                sim.reset(np.ones(n, dtype=bool))
    finally:
        sim.close()
    return fitness / steps, {name: value / steps for name, value in measured.items()}


def _detected(env_name, task_name, record):
    """The package's exploit detectors on each episode of a recorded `_episode`, as an evaluation trace would show it:
    the states after each step while it was alive (the step that ended it included). One tuple of names per env."""
    assert exploits_for(env_name, task_name), f"no detector for {env_name}/{task_name}"
    found = []
    for i in range(len(record[0][1])):
        rows = [s for s, alive in record if alive[i]]
        states = {k: np.stack([np.asarray(s[k])[i] for s in rows]) for k in rows[0]}
        found.append(matches(env_name, task_name, states, _dt(env_name)))
    return found


def _dt(env_name):
    env = get_env(env_name)
    return float(mujoco.MjModel.from_xml_path(str(env.model_path)).opt.timestep) * env.frame_skip


def _square_wave(freq_hz, phase, amp, bias, dt):
    """An open-loop bang-bang action: amp * sign(sin(2 pi f t + phase)) + bias per actuator, clipped to [-1, 1]."""
    phase, amp, bias = (np.asarray(x, dtype=np.float64) for x in (phase, amp, bias))
    return lambda s, t: np.clip(amp * np.sign(np.sin(2 * np.pi * freq_hz * t * dt + phase)) + bias, -1.0, 1.0)


def _threshold(env_name, task_name):
    return get_env(env_name).task(task_name).success_threshold


# --- cart-pole and pendulum: spinning the pole through the top is not balancing it ---------------------------------


def test_cartpole_spinning_the_pole_over_the_top_is_not_a_swingup():
    # pump energy into the pole forever (push the cart so that the pole speeds up), never stabilise it
    def pump(s, t):
        return np.sign(-s["pole_angular_velocity"] * np.cos(s["pole_angle"]) + 1e-3)[:, None]

    record, idle = [], []
    fitness, m = _episode("cartpole", "swingup", pump, measure={"top": lambda s: s["pole_upright"] > 0.99},
                          record=record)
    assert np.all(m["top"] > 0.0), "the pole never came up: the script is not the exploit it means to be"
    assert np.all(fitness < _threshold("cartpole", "swingup")), fitness
    assert _detected("cartpole", "swingup", record) == [("spun the pole round",)] * 8
    _episode("cartpole", "swingup", n=2, record=idle)
    assert _detected("cartpole", "swingup", idle) == [()] * 2, "hanging still is not spinning"


def test_cartpole_doing_nothing_or_pushing_to_the_wall_does_not_balance():
    threshold = _threshold("cartpole", "balance")
    idle, _ = _episode("cartpole", "balance")
    wall, _ = _episode("cartpole", "balance", lambda s, t: np.ones((len(s["cart_x"]), 1)))
    assert np.all(idle < threshold) and np.all(wall < threshold), (idle, wall)


def test_pendulum_spinning_is_not_a_swingup():
    # full torque in the direction of motion: the pendulum ends up spinning round and round through the top
    record, idle = [], []
    fitness, m = _episode("pendulum", "swingup", lambda s, t: np.sign(s["pole_angular_velocity"] + 1e-6)[:, None],
                          measure={"top": lambda s: s["pole_upright"] > 0.99}, record=record)
    assert np.all(m["top"] > 0.0), "the pendulum never reached the top"
    assert np.all(fitness < _threshold("pendulum", "swingup")), fitness
    assert _detected("pendulum", "swingup", record) == [("spun the pole round",)] * 8
    _episode("pendulum", "swingup", n=2, record=idle)
    assert _detected("pendulum", "swingup", idle) == [()] * 2, "hanging still is not spinning"


# --- reacher: sweeping the arm round is not staying on the target ---------------------------------------------------


def test_reacher_sweeping_the_arm_through_the_target_is_not_reaching():
    fitness, m = _episode("reacher", "reach", lambda s, t: np.array([1.0, 0.0]), n=16,
                          measure={"near": lambda s: s["distance"] < 0.05})
    assert m["near"].max() > 0.0, "the sweep never came near a target"
    assert np.all(fitness < _threshold("reacher", "reach")), fitness


# --- hopper: backflips in the air landing on the foot, not tumbles; hopping, not diving ------------------------------

# An open-loop bang-bang gait that makes the hopper tumble backwards over and over along the floor, touching it most
# of the time (found by a random search over square waves for backward rotation): under fitness version 1 (any
# backward rotation) it scored 1.8-3.3 rad/s, "success" in every episode; version 2 scores it <= 0.4, and version 3
# ends it at its first touch of the floor with anything but the foot.
_HOPPER_TUMBLE = {"freq_hz": 1.369, "phase": [5.746, 5.096, 2.968], "amp": [-1.0, 0.0, 1.0],
                  "bias": [0.355, -0.254, -0.234]}
_HOPPER_DT = 0.02  # s per control step


def _hopper_backflip(version):
    """The backflip task as it is, or (version 2) with version 2's fitness and no termination."""
    task = get_env("hopper").task("backflip")
    if version == 2:
        module = sys.modules[task.fitness.__module__]
        task = dataclasses.replace(task, fitness=module.backflip_fitness_v2, terminate=None, fitness_version=2)
    return task


def _hopper_airborne(s):
    return (s["lowest_point_height"] > 0.1) & (s["foot_on_floor"] < 0.5) & (s["body_on_floor"] < 0.5)


def test_hopper_tumbling_backwards_along_the_floor_is_not_a_backflip():
    threshold = _threshold("hopper", "backflip")
    policy = _square_wave(dt=_HOPPER_DT, **_HOPPER_TUMBLE)
    record = []
    v2, m = _episode("hopper", "backflip", policy, task=_hopper_backflip(2), record=record,
                     measure={"rotation": lambda s: -s["pitch_rate"], "low": lambda s: s["lowest_point_height"] < 0.03})
    assert all("tumbled along the floor" in found for found in _detected("hopper", "backflip", record))
    assert np.all(m["rotation"] > 1.5 * threshold), f"it does rotate backwards fast (rad/s): {m}"
    assert np.all(m["low"] > 0.4), f"mostly on the floor (share of steps within 3 cm of it): {m}"
    v3, _ = _episode("hopper", "backflip", policy)
    assert np.all(v2 < threshold) and np.all(v3 < threshold), (v2, v3)


def _hopper_launch(height, pitch, up, spin):
    def start(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 1], qpos[:, 2] = height, pitch
        qvel = np.zeros((n, qpos0.size))
        qvel[:, 1], qvel[:, 2] = up, spin
        return qpos, qvel

    return start


def test_hopper_bouncing_tumble_landing_upside_down_is_not_a_backflip():
    # What the version 2 winner of a live run did (task score 10.4, success 1.00; 83-84% of the steps in the air,
    # 17-23 backward turns in 10 s, landing on the torso, thigh or head upside down and bouncing into the next
    # flight), constructed: thrown up at 4.5 m/s from upside down (head down, just above the floor), turning
    # backwards once per flight; it lands upside down on its torso after ~46 steps and bounces (is relaunched) into
    # the next flight every 50 steps.
    threshold = _threshold("hopper", "backflip")
    start = _hopper_launch(0.4, -np.pi, 4.5, -6.85)
    measure = {"turns_per_10s": lambda s: -s["pitch_rate"] * 10.0 / (2.0 * np.pi), "air": _hopper_airborne,
               "body": lambda s: s["body_on_floor"], "foot": lambda s: s["foot_on_floor"],
               "alive": lambda s: np.ones_like(s["torso_height"])}
    record = []
    v2, m2 = _episode("hopper", "backflip", start=start, relaunch=50, n=2, measure=measure, task=_hopper_backflip(2),
                      record=record)
    assert _detected("hopper", "backflip", record) == [("flipped onto its body",)] * 2
    assert np.all(m2["turns_per_10s"] > 8.0) and np.all(m2["air"] > 0.8), f"flips in the air: {m2}"
    assert np.all(m2["body"] > 0.0) and np.all(m2["foot"] == 0.0), f"lands on its body, never on the foot: {m2}"
    assert np.all(v2 >= threshold), f"version 2 paid it: {v2}"
    record = []
    v3, m3 = _episode("hopper", "backflip", start=start, relaunch=50, n=2, measure=measure, record=record)
    assert _detected("hopper", "backflip", record) == [("flipped onto its body",)] * 2, "its one flight, ended"
    assert np.all(m3["alive"] < 0.1), f"version 3 ends the episode at the first landing on the body: {m3}"
    assert np.all(v3 <= 0.0), f"and takes back the turns of the flight that ended in the fall: {v3}"


def test_hopper_one_big_flip_landing_on_the_body_is_not_a_backflip():
    # What the reference reward's policy learned under version 3 with a landing term added (3M steps): one jump from
    # standing turning 2.2 times, landing on its body, constructed: thrown up at 5 m/s turning backwards at
    # 13.6 rad/s, it lands on its back and lies there. Version 2 paid it as a success; ending the episode at the fall
    # is not enough (the flight was paid before it ended): the falling step must take the flight back.
    threshold = _threshold("hopper", "backflip")
    start = _hopper_launch(1.25, 0.0, 5.0, -13.55)
    record = []
    v2, m = _episode("hopper", "backflip", start=start, n=2, task=_hopper_backflip(2), record=record,
                     measure={"body": lambda s: s["body_on_floor"]})
    assert _detected("hopper", "backflip", record) == [("flipped onto its body",)] * 2
    assert np.all(m["body"] > 0.5) and np.all(v2 >= threshold), f"version 2 paid it: {v2}, {m}"
    no_charge = dataclasses.replace(_hopper_backflip(3), fitness=_hopper_backflip(2).fitness)
    ended, _ = _episode("hopper", "backflip", start=start, n=2, task=no_charge)
    assert np.all(ended >= threshold), f"the termination alone keeps the flight's pay: {ended}"
    v3, _ = _episode("hopper", "backflip", start=start, n=2)
    assert np.all(v3 <= 0.0), v3


def test_hopper_backflip_landing_on_the_foot_is_a_backflip():
    # positive control: thrown up from standing at 5 m/s, turning backwards once in the flight (6.16 rad/s for its
    # 1.02 s), it lands on its foot upright after 50 steps; relaunched 4 steps later (its limp leg would fold)
    threshold = _threshold("hopper", "backflip")
    start = _hopper_launch(1.25, 0.0, 5.0, -6.16)
    measure = {"alive": lambda s: np.ones_like(s["torso_height"]),
               "upright_on_foot": lambda s: (s["foot_on_floor"] > 0.5) & (np.cos(s["torso_pitch"]) > 0.9)}
    record = []
    v3, m = _episode("hopper", "backflip", start=start, relaunch=54, steps=540, n=2, measure=measure, record=record)
    assert np.all(m["alive"] == 1.0) and np.all(m["upright_on_foot"] > 0.0), f"lands on its foot, upright: {m}"
    assert _detected("hopper", "backflip", record) == [()] * 2, "an honest backflip matches no exploit"
    assert np.all(v3 > threshold), v3
    v2, _ = _episode("hopper", "backflip", start=start, relaunch=54, steps=540, n=2, task=_hopper_backflip(2))
    np.testing.assert_allclose(v3, v2)  # no fall: version 3 pays what version 2 paid


def test_hopper_diving_forward_or_standing_still_is_not_hopping():
    threshold = _threshold("hopper", "hop")
    idle, _ = _episode("hopper", "hop", n=2)
    dives = [_episode("hopper", "hop", lambda s, t, a=a: np.array(a, dtype=float), n=2)[0]
             for a in ([1.0, 1.0, 1.0], [-1.0, -1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0])]
    assert np.all(idle < threshold), idle
    for dive in dives:
        assert np.all(dive < threshold), dives


# --- walker2d: falling forward or backward is not walking -----------------------------------------------------------


@pytest.mark.parametrize("task_name,lean", [("walk", 1.0), ("run_backwards", -1.0)])
def test_walker_falling_is_not_walking(task_name, lean):
    threshold = _threshold("walker2d", task_name)
    for action in ([lean, 0.0, 0.0] * 2, [lean, -1.0, lean] * 2, [-lean, 1.0, -lean] * 2, [0.0] * 6):
        fitness, _ = _episode("walker2d", task_name, lambda s, t, a=action: np.array(a), n=2)
        assert np.all(fitness < threshold), (action, fitness)


# --- half cheetah: running on the feet, flipping in the air ---------------------------------------------------------


def _cheetah_start(height, pitch, vx=0.0, vz=0.0, spin=0.0):
    def start(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 1], qpos[:, 2] = height, pitch
        qvel = np.zeros((n, qpos0.size))
        qvel[:, 0], qvel[:, 1], qvel[:, 2] = vx, vz, spin
        return qpos, qvel

    return start


def test_cheetah_sliding_on_its_back_is_not_running_and_running_upright_is():
    threshold = _threshold("half_cheetah", "run")
    # upside down on its back, kept moving forward at 5 m/s
    record, honest = [], []
    back, m = _episode("half_cheetah", "run", start=_cheetah_start(0.2, np.pi, vx=5.0), relaunch=5, steps=50, n=2,
                       measure={"speed": lambda s: s["forward_velocity"]}, record=record)
    assert _detected("half_cheetah", "run", record) == [("slid on its back",)] * 2
    assert np.all(m["speed"] > threshold), m
    assert np.all(back <= 0.0), back
    backwards, _ = _episode("half_cheetah", "run_backwards", start=_cheetah_start(0.2, np.pi, vx=-5.0), relaunch=5,
                            steps=50, n=2)
    assert np.all(backwards <= 0.0), backwards
    # positive control: upright, bounding forward at 5 m/s
    up, _ = _episode("half_cheetah", "run", start=_cheetah_start(0.7, 0.0, vx=5.0, vz=1.0), relaunch=5, steps=50, n=2,
                     record=honest)
    assert np.all(up > threshold), up
    assert _detected("half_cheetah", "run", honest) == [()] * 2


def _cheetah_flip(version):
    """The flip task as it is, or (version 2) with version 2's fitness and no termination."""
    task = get_env("half_cheetah").task("flip")
    if version == 2:
        module = sys.modules[task.fitness.__module__]
        task = dataclasses.replace(task, fitness=module.backflip_fitness_v2, terminate=None, fitness_version=2)
    return task


def test_cheetah_rotating_backwards_while_touching_the_floor_earns_nothing():
    # No scripted gait makes this weak body roll over its back (a random search over bang-bang gaits found none), and
    # a constructed spin pops it into the air. So the check is on every state of random flailing from three starts
    # (standing, on its back, nose up on its tail): whenever a part touches the floor, backward rotation earns nothing
    # (nor when no part touches but the body is within 0.1 m of the floor: the same rule, not checked here), and
    # such states with backward rotation do occur. The flailing goes on past the falls that end a version 3 episode
    # (the termination is off here), so that the fitness is checked on the states after them too.
    task = _cheetah_flip(3)
    rng = np.random.default_rng(0)
    grounded_backward = 0
    for start in (None, _cheetah_start(0.15, np.pi), _cheetah_start(0.6, -np.pi / 2, spin=-3.0)):
        def flail(s, t):
            return rng.uniform(-1.0, 1.0, (len(s["torso_height"]), 6))

        def check(s):
            touching = (s["torso_on_floor"] + s["legs_on_floor"] + s["back_foot_on_floor"]
                        + s["front_foot_on_floor"]) > 0
            fitness = np.asarray(task.fitness(s, np))
            assert np.all(fitness[touching] <= 0.0), fitness[touching]
            return touching & (s["pitch_rate"] < -1.0)

        _, m = _episode("half_cheetah", "flip", flail, start=start, steps=60, n=16, measure={"grounded_backward": check},
                        task=dataclasses.replace(task, terminate=None))
        grounded_backward += m["grounded_backward"].sum()
    assert grounded_backward > 0, "no state rotated backwards on the floor: the check above proved nothing"


_CHEETAH_FLIGHT = 2 * 4.0 / 9.81  # s in the air, thrown up at 4 m/s


def test_cheetah_bouncing_tumble_landing_on_its_back_is_not_a_flip():
    # the hopper's bouncing tumble (see the hopper's case), on the cheetah: thrown up at 4 m/s from lying on its back,
    # turning backwards about once per flight, it lands on its back again after 21 steps and bounces (is relaunched)
    # into the next flight every 23 steps
    threshold = _threshold("half_cheetah", "flip")
    start = _cheetah_start(0.25, -np.pi, vz=4.0, spin=-3 * np.pi / _CHEETAH_FLIGHT)
    measure = {"turns_per_10s": lambda s: -s["pitch_rate"] * 10.0 / (2.0 * np.pi),
               "on_back": lambda s: s["torso_on_floor"],
               "on_feet": lambda s: np.maximum(s["back_foot_on_floor"], s["front_foot_on_floor"]),
               "alive": lambda s: np.ones_like(s["torso_height"])}
    record = []
    v2, m2 = _episode("half_cheetah", "flip", start=start, relaunch=23, steps=230, n=2, measure=measure,
                      task=_cheetah_flip(2), record=record)
    assert _detected("half_cheetah", "flip", record) == [("flipped onto its body",)] * 2
    assert np.all(m2["turns_per_10s"] > 6.0), f"it flips: {m2}"
    assert np.all(m2["on_back"] > 0.0) and np.all(m2["on_feet"] == 0.0), f"lands on its back, never its feet: {m2}"
    assert np.all(v2 >= threshold), f"version 2 paid it: {v2}"
    v3, m3 = _episode("half_cheetah", "flip", start=start, relaunch=23, steps=230, n=2, measure=measure)
    assert np.all(m3["alive"] < 0.15), f"version 3 ends the episode at the first landing on its back: {m3}"
    assert np.all(v3 <= 0.0), f"and takes back the turns of the flight that ended in the fall: {v3}"


def test_cheetah_backflip_landing_on_its_feet_is_a_flip():
    # positive control: thrown up from standing at 4 m/s, turning backwards once in the flight, it lands on its feet,
    # right side up, after 17 steps; relaunched 2 steps later
    threshold = _threshold("half_cheetah", "flip")
    start = _cheetah_start(0.7, 0.0, vz=4.0, spin=-2 * np.pi / _CHEETAH_FLIGHT)
    measure = {"alive": lambda s: np.ones_like(s["torso_height"]),
               "on_feet_upright": lambda s: (np.maximum(s["back_foot_on_floor"], s["front_foot_on_floor"]) > 0.5)
               & (np.cos(s["torso_pitch"]) > 0.9)}
    record = []
    v3, m = _episode("half_cheetah", "flip", start=start, relaunch=19, steps=190, n=2, measure=measure, record=record)
    assert np.all(m["alive"] == 1.0) and np.all(m["on_feet_upright"] > 0.0), f"lands on its feet: {m}"
    assert _detected("half_cheetah", "flip", record) == [()] * 2, "an honest flip matches no exploit"
    assert np.all(v3 > threshold), v3
    v2, _ = _episode("half_cheetah", "flip", start=start, relaunch=19, steps=190, n=2, task=_cheetah_flip(2))
    np.testing.assert_allclose(v3, v2)  # no fall: version 3 pays what version 2 paid


# --- ant: jumping means leaving the floor; lying down and running are not met by standing ----------------------------


def _ant_launch(up):
    def start(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 0.55
        qpos[:, 8::2] = 0.87
        qvel = np.zeros((n, qpos0.size - 1))
        qvel[:, 2] = up
        return qpos, qvel

    return start


def test_ant_standing_on_tiptoe_is_not_jumping_and_leaving_the_floor_is():
    threshold = _threshold("ant", "jump")
    # the ankles pressed down (0.4 of full torque): the torso stands ~0.1 m higher, without ever leaving the floor
    record, honest = [], []
    tiptoe, m = _episode("ant", "jump", lambda s, t: np.array([0.0, 0.4] * 4), n=4, record=record,
                         measure={"height": lambda s: np.clip(s["torso_height"] - 0.5, 0.0, 1.0)})
    assert _detected("ant", "jump", record) == [("stood on tiptoe",)] * 4
    assert np.all(m["height"] > 0.4 * threshold), f"it does stand tall (version 1's fitness): {m}"
    assert np.all(tiptoe < 0.1 * threshold), tiptoe
    # positive control: thrown up at 4 m/s from the standing pose, again every 0.8 s
    air, _ = _episode("ant", "jump", start=_ant_launch(4.0), relaunch=16, steps=160, n=2, record=honest)
    assert np.all(air > threshold), air
    assert _detected("ant", "jump", honest) == [()] * 2


def test_ant_standing_or_lunging_does_not_run_or_lie_down():
    idle_lie, _ = _episode("ant", "lie_down", n=2)
    assert np.all(idle_lie < _threshold("ant", "lie_down")), idle_lie
    for action in ([1.0, 1.0] * 4, [1.0, -1.0, -1.0, 1.0] * 2, [0.0, 1.0] * 4):
        run, _ = _episode("ant", "run", lambda s, t, a=action: np.array(a), n=2)
        assert np.all(run < _threshold("ant", "run")), (action, run)


# --- humanoid: collapsing achieves no pose but lying; on the knees is not running; lying scissored is no splits ------


def test_humanoid_collapsing_meets_no_task_but_lying_down():
    env = get_env("humanoid")
    for task in env.tasks:
        fitness, _ = _episode("humanoid", task.name, n=2, seed=1)
        if task.name == "lie_down":  # falling over is a way to lie down: the one task the collapse may meet
            continue
        assert np.all(fitness < task.success_threshold), (task.name, fitness)


def _humanoid_joints():
    env = get_env("humanoid")
    joints = sys.modules[env.state_view.__module__].JOINTS
    return {name: 7 + i for i, name in enumerate(joints)}


def _humanoid_kneeling(vx):
    """Kneeling upright (both knees bent 90 degrees, thighs and body vertical, knees at the floor), moving forward at
    vx (the tallest kneeling posture: head at 1.10 m, chest 0.91 m, above the 0.8 m fall termination)."""
    joints = _humanoid_joints()

    def start(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 0.91  # the root (chest) height at which the kneecaps touch the floor
        qpos[:, joints["left_knee"]] = qpos[:, joints["right_knee"]] = -1.57
        qvel = np.zeros((n, qpos0.size - 1))
        qvel[:, 0] = vx
        return qpos, qvel

    return start


def test_humanoid_moving_on_its_knees_is_not_running():
    threshold = _threshold("humanoid", "run")
    # kept sliding forward on its knees (relaunched every 2 steps, before it can tip over)
    record, still = [], []
    fitness, m = _episode("humanoid", "run", start=_humanoid_kneeling(4.0), relaunch=2, steps=40, n=2, record=record,
                          measure={"speed": lambda s: s["com_velocity"][..., 0],
                                   "knees_low": lambda s: np.maximum(s["left_knee_pos"][..., 2],
                                                                     s["right_knee_pos"][..., 2]) < 0.15,
                                   "alive": lambda s: np.ones_like(s["torso_up"])})
    assert np.all(m["alive"] == 1.0), f"not ended by the fall termination: {m}"
    assert np.all(m["speed"] > threshold), f"it does move forward fast: {m}"
    assert np.all(m["knees_low"] == 1.0), f"on its knees: {m}"
    assert np.all(fitness < threshold), fitness
    assert _detected("humanoid", "run", record) == [("moved on its knees",)] * 2
    _episode("humanoid", "run", start=_humanoid_kneeling(0.0), relaunch=2, steps=40, n=2, record=still)
    assert _detected("humanoid", "run", still) == [()] * 2, "kneeling still is not moving on the knees"


def test_humanoid_lying_on_the_side_with_scissored_legs_is_not_the_splits():
    joints = _humanoid_joints()

    def lying_scissored(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 0.2
        qpos[:, 3:7] = [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]  # rolled onto the right side, facing +x
        qpos[:, joints["right_hip_y"]] = -1.57  # right leg forward
        qpos[:, joints["left_hip_y"]] = 0.69  # left leg back
        return qpos, np.zeros((n, qpos0.size - 1))

    def split_like(s):  # version 1's whole condition
        apart = np.abs(s["left_foot_pos"][..., 0] - s["right_foot_pos"][..., 0]) > 1.2
        return apart & (s["pelvis_pos"][..., 2] < 0.5)

    def hold(s, t):  # full torque: right hip forward, left hip back
        action = np.zeros((len(s["torso_up"]), 21))
        action[:, joints["right_hip_y"] - 7], action[:, joints["left_hip_y"] - 7] = -1.0, 1.0
        return action

    record = []
    fitness, m = _episode("humanoid", "splits", hold, start=lying_scissored, n=2, measure={"split_like": split_like},
                          record=record)
    assert _detected("humanoid", "splits", record) == [("lay on its side with legs scissored",)] * 2
    assert np.all(m["split_like"] >= _threshold("humanoid", "splits")), f"feet apart, pelvis low: {m}"
    assert np.all(fitness < _threshold("humanoid", "splits")), fitness


def _humanoid_falling_back_onto_folded_legs(rng, qpos0, n):
    """Kneeling (knees on the floor, folded to -2.6 rad, chest at 0.82 m), leaning back 0.3 rad and tipping further
    back at 3.5 rad/s."""
    joints = _humanoid_joints()
    qpos = np.tile(qpos0, (n, 1))
    qpos[:, 2] = 0.80
    qpos[:, 3:7] = [np.cos(-0.15), 0.0, np.sin(-0.15), 0.0]  # pitched back 0.3 rad about y
    qpos[:, joints["left_knee"]] = qpos[:, joints["right_knee"]] = -2.6
    qvel = np.zeros((n, qpos0.size - 1))
    qvel[:, 4] = -3.5
    return qpos, qvel


def _humanoid_hold_knees_folded(s, t):
    # full torque folding both knees and tensing the belly (curling the chest up): it falls onto its back over its
    # folded legs and lies there with the chest propped up
    joints = _humanoid_joints()
    action = np.zeros((len(s["torso_up"]), 21))
    action[:, joints["left_knee"] - 7] = action[:, joints["right_knee"] - 7] = -1.0
    action[:, joints["abdomen_y"] - 7] = -1.0
    return action


def test_humanoid_kneel_ends_at_a_fall_backwards_onto_folded_legs():
    # The fall of a live run's kneel winner (g1c01: knelt upright, fell backwards, lay on its back with its legs
    # folded under it, torso_up 0.40, for ~20 steps before version 1's tilt limit ended the episode), replayed through
    # the physics from a constructed state: it kneels at the first step, falls, and lies on its back, chest low and
    # knees folded, the back propped up above the tilt limit.
    env = get_env("humanoid")
    task = env.task("kneel")
    v1 = dataclasses.replace(task, terminate=sys.modules[task.fitness.__module__].toppled_v1, fitness_version=1)
    measure = {"alive": lambda s: np.ones_like(s["torso_up"]),
               "lying_back_on_folded_legs": lambda s: ((s["torso_pos"][..., 2] < 0.2) & (s["torso_up"] > 0.3)
                                                        & (s["torso_forward"][..., 2] > 0.5)  # facing up
                                                        & (s["left_knee_angle"] < -2.0) & (s["right_knee_angle"] < -2.0))}
    fit1, m1 = _episode("humanoid", "kneel", _humanoid_hold_knees_folded, start=_humanoid_falling_back_onto_folded_legs,
                        steps=120, n=2, measure=measure, task=v1, record=(v1_record := []))
    assert _detected("humanoid", "kneel", v1_record) == [("fell back onto folded legs",)] * 2
    assert np.all(m1["alive"] == 1.0), f"version 1 never ends it: {m1}"
    assert np.all(m1["lying_back_on_folded_legs"] > 0.5), f"it lies on its back over its folded legs: {m1}"
    fit2, m2 = _episode("humanoid", "kneel", _humanoid_hold_knees_folded, start=_humanoid_falling_back_onto_folded_legs,
                        steps=120, n=2, measure=measure, record=(v2_record := []))
    assert _detected("humanoid", "kneel", v2_record) == [()] * 2, "version 2 ends it before it lies there"
    assert np.all(m2["alive"] * 120 <= 20), f"version 2 ends it during the fall: {m2}"
    assert np.all(m2["lying_back_on_folded_legs"] == 0.0), m2
    assert np.all(fit2 > 0.0) and np.all(fit2 == fit1), (fit1, fit2)  # it did kneel; lying scored nothing either way


def test_humanoid_kneel_does_not_end_an_upright_kneel():
    # control: kneeling upright (thighs vertical, chest 0.91 m), kept there (relaunched every 2 steps, before it can
    # tip): every step counts as kneeling and none ends the episode
    record = []
    fitness, m = _episode("humanoid", "kneel", start=_humanoid_kneeling(0.0), relaunch=2, steps=40, n=2,
                          measure={"alive": lambda s: np.ones_like(s["torso_up"])}, record=record)
    assert _detected("humanoid", "kneel", record) == [()] * 2
    assert np.all(m["alive"] == 1.0) and np.all(fitness == 1.0), (fitness, m)


def test_humanoid_in_the_air_jumps():
    def thrown(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 1.5
        qvel = np.zeros((n, qpos0.size - 1))
        qvel[:, 2] = 2.0
        return qpos, qvel

    fitness, _ = _episode("humanoid", "jump", start=thrown, relaunch=10, steps=60, n=2)
    assert np.all(fitness > _threshold("humanoid", "jump")), fitness


def test_humanoid_jump_tumbling_onto_the_back_ends_the_episode():
    # The jump fitness pays the time spent high (centre of mass 0.2 m above standing) whatever the landing; what keeps
    # a bouncing tumble from paying is the fall termination: thrown up at 3 m/s from standing, turning backwards at
    # 6 rad/s, it goes head down and lands on its back; relaunched every 40 steps with the termination off, this
    # tumble would score far above the threshold, but its first landing (the chest below 0.8 m) ends the episode,
    # and one flight is worth less than the threshold (no version change)
    task = get_env("humanoid").task("jump")

    def thrown(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 1.286
        qvel = np.zeros((n, qpos0.size - 1))
        qvel[:, 2], qvel[:, 4] = 3.0, -6.0
        return qpos, qvel

    unended, _ = _episode("humanoid", "jump", start=thrown, relaunch=40, steps=200, n=2,
                          task=dataclasses.replace(task, terminate=None))
    assert np.all(unended >= task.success_threshold), unended
    ended, m = _episode("humanoid", "jump", start=thrown, relaunch=40, steps=200, n=2,
                        measure={"alive": lambda s: np.ones_like(s["torso_up"])})
    assert np.all(m["alive"] < 0.2) and np.all(ended < task.success_threshold), (ended, m)


def test_every_task_has_a_fitness_version():
    for name in env_names():
        for task in get_env(name).tasks:
            assert isinstance(task.fitness_version, int) and task.fitness_version >= 1, (name, task.name)
