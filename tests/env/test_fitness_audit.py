"""The task fitness cannot be gamed: for every env, the obvious exploits of its tasks (tumbling along the floor
instead of flipping in the air, lying upside down and wriggling, walking on the knees, standing tall instead of
jumping, spinning the pole through the top, diving forward, collapsing) are written as scripted policies or as
physics rollouts from constructed states, stepped through the real physics, and must score below the task's success
threshold. Where it is cheap, a positive control shows that a state that really does the task still scores above it.

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

import numpy as np
import pytest

from rewardsmith.env.registry import env_names, get_env
from rewardsmith.env.sim import NativeBatch


def _episode(env_name, task_name, policy=None, n=8, seed=0, steps=None, start=None, relaunch=None, measure=None):
    """Mean episode fitness per env (numpy [n]) of `policy` ((state view, step) -> action [n, nu]; None = zero
    action); `start(rng, qpos0, n)` -> (qpos, qvel) replaces the env's initial state (and is what `relaunch` every
    that many steps resets to). `measure` {name: s -> [n]}: other per-step quantities, summed over the same steps and
    divided the same way; returns (fitness, {name: mean})."""
    env = get_env(env_name)
    task = env.task(task_name)
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

    fitness, m = _episode("cartpole", "swingup", pump, measure={"top": lambda s: s["pole_upright"] > 0.99})
    assert np.all(m["top"] > 0.0), "the pole never came up: the script is not the exploit it means to be"
    assert np.all(fitness < _threshold("cartpole", "swingup")), fitness


def test_cartpole_doing_nothing_or_pushing_to_the_wall_does_not_balance():
    threshold = _threshold("cartpole", "balance")
    idle, _ = _episode("cartpole", "balance")
    wall, _ = _episode("cartpole", "balance", lambda s, t: np.ones((len(s["cart_x"]), 1)))
    assert np.all(idle < threshold) and np.all(wall < threshold), (idle, wall)


def test_pendulum_spinning_is_not_a_swingup():
    # full torque in the direction of motion: the pendulum ends up spinning round and round through the top
    fitness, m = _episode("pendulum", "swingup", lambda s, t: np.sign(s["pole_angular_velocity"] + 1e-6)[:, None],
                          measure={"top": lambda s: s["pole_upright"] > 0.99})
    assert np.all(m["top"] > 0.0), "the pendulum never reached the top"
    assert np.all(fitness < _threshold("pendulum", "swingup")), fitness


# --- reacher: sweeping the arm round is not staying on the target ---------------------------------------------------


def test_reacher_sweeping_the_arm_through_the_target_is_not_reaching():
    fitness, m = _episode("reacher", "reach", lambda s, t: np.array([1.0, 0.0]), n=16,
                          measure={"near": lambda s: s["distance"] < 0.05})
    assert m["near"].max() > 0.0, "the sweep never came near a target"
    assert np.all(fitness < _threshold("reacher", "reach")), fitness


# --- hopper: backflips in the air, not tumbles along the floor; hopping, not diving -------------------------------

# An open-loop bang-bang gait that makes the hopper tumble backwards over and over along the floor, touching it most
# of the time (found by a random search over square waves for backward rotation): under fitness version 1 (any
# backward rotation) it scored 1.8-3.3 rad/s, "success" in every episode; version 2 scores it <= 0.4.
_HOPPER_TUMBLE = {"freq_hz": 1.369, "phase": [5.746, 5.096, 2.968], "amp": [-1.0, 0.0, 1.0],
                  "bias": [0.355, -0.254, -0.234]}


def test_hopper_tumbling_backwards_along_the_floor_is_not_a_backflip():
    threshold = _threshold("hopper", "backflip")
    fitness, m = _episode("hopper", "backflip", _square_wave(dt=0.02, **_HOPPER_TUMBLE),
                          measure={"rotation": lambda s: -s["pitch_rate"],
                                   "low": lambda s: s["lowest_point_height"] < 0.03})
    assert np.all(m["rotation"] > 1.5 * threshold), f"it does rotate backwards fast (rad/s): {m}"
    assert np.all(m["low"] > 0.4), f"mostly on the floor (share of steps within 3 cm of it): {m}"
    assert np.all(fitness < threshold), fitness


def _hopper_launch(height, up, spin):
    def start(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 1] = height
        qvel = np.zeros((n, qpos0.size))
        qvel[:, 1], qvel[:, 2] = up, spin
        return qpos, qvel

    return start


def test_hopper_spinning_in_the_air_is_a_backflip():
    threshold = _threshold("hopper", "backflip")
    # positive control: thrown 1.5 m up at 5 m/s, spinning backwards at 8 rad/s, again every 1.2 s
    air, _ = _episode("hopper", "backflip", start=_hopper_launch(1.5, 5.0, -8.0), relaunch=60, n=2)
    assert np.all(air > threshold), air


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
    back, m = _episode("half_cheetah", "run", start=_cheetah_start(0.2, np.pi, vx=5.0), relaunch=5, steps=50, n=2,
                       measure={"speed": lambda s: s["forward_velocity"]})
    assert np.all(m["speed"] > threshold), m
    assert np.all(back <= 0.0), back
    backwards, _ = _episode("half_cheetah", "run_backwards", start=_cheetah_start(0.2, np.pi, vx=-5.0), relaunch=5,
                            steps=50, n=2)
    assert np.all(backwards <= 0.0), backwards
    # positive control: upright, bounding forward at 5 m/s
    up, _ = _episode("half_cheetah", "run", start=_cheetah_start(0.7, 0.0, vx=5.0, vz=1.0), relaunch=5, steps=50, n=2)
    assert np.all(up > threshold), up


def test_cheetah_rotating_backwards_while_touching_the_floor_earns_nothing_and_flipping_in_the_air_does():
    # No scripted gait makes this weak body roll over its back (a random search over bang-bang gaits found none), and
    # a constructed spin pops it into the air. So the check is on every state of random flailing from three starts
    # (standing, on its back, nose up on its tail): whenever a part touches the floor, backward rotation earns nothing
    # (nor when no part touches but the body is within 0.1 m of the floor: the same rule, not checked here), and
    # such states with backward rotation do occur.
    task = get_env("half_cheetah").task("flip")
    threshold = task.success_threshold
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

        _, m = _episode("half_cheetah", "flip", flail, start=start, steps=60, n=16, measure={"grounded_backward": check})
        grounded_backward += m["grounded_backward"].sum()
    assert grounded_backward > 0, "no state rotated backwards on the floor: the check above proved nothing"
    # positive control: thrown from 1.2 m at 4 m/s up, spinning backwards at 10 rad/s, again every 0.75 s
    air, _ = _episode("half_cheetah", "flip", start=_cheetah_start(1.2, 0.0, vz=4.0, spin=-10.0), relaunch=15,
                      steps=150, n=2)
    assert np.all(air > threshold), air


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
    tiptoe, m = _episode("ant", "jump", lambda s, t: np.array([0.0, 0.4] * 4), n=4,
                         measure={"height": lambda s: np.clip(s["torso_height"] - 0.5, 0.0, 1.0)})
    assert np.all(m["height"] > 0.4 * threshold), f"it does stand tall (version 1's fitness): {m}"
    assert np.all(tiptoe < 0.1 * threshold), tiptoe
    # positive control: thrown up at 4 m/s from the standing pose, again every 0.8 s
    air, _ = _episode("ant", "jump", start=_ant_launch(4.0), relaunch=16, steps=160, n=2)
    assert np.all(air > threshold), air


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
    fitness, m = _episode("humanoid", "run", start=_humanoid_kneeling(4.0), relaunch=2, steps=40, n=2,
                          measure={"speed": lambda s: s["com_velocity"][..., 0],
                                   "knees_low": lambda s: np.maximum(s["left_knee_pos"][..., 2],
                                                                     s["right_knee_pos"][..., 2]) < 0.15,
                                   "alive": lambda s: np.ones_like(s["torso_up"])})
    assert np.all(m["alive"] == 1.0), f"not ended by the fall termination: {m}"
    assert np.all(m["speed"] > threshold), f"it does move forward fast: {m}"
    assert np.all(m["knees_low"] == 1.0), f"on its knees: {m}"
    assert np.all(fitness < threshold), fitness


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

    fitness, m = _episode("humanoid", "splits", hold, start=lying_scissored, n=2, measure={"split_like": split_like})
    assert np.all(m["split_like"] >= _threshold("humanoid", "splits")), f"feet apart, pelvis low: {m}"
    assert np.all(fitness < _threshold("humanoid", "splits")), fitness


def test_humanoid_in_the_air_jumps():
    def thrown(rng, qpos0, n):
        qpos = np.tile(qpos0, (n, 1))
        qpos[:, 2] = 1.5
        qvel = np.zeros((n, qpos0.size - 1))
        qvel[:, 2] = 2.0
        return qpos, qvel

    fitness, _ = _episode("humanoid", "jump", start=thrown, relaunch=10, steps=60, n=2)
    assert np.all(fitness > _threshold("humanoid", "jump")), fitness


def test_every_task_has_a_fitness_version():
    for name in env_names():
        for task in get_env(name).tasks:
            assert isinstance(task.fitness_version, int) and task.fitness_version >= 1, (name, task.name)
