"""Hopper: a planar one-legged robot (like gymnasium's Hopper-v5): hop forward, or do backflips."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A planar one-legged hopper (torso, thigh, leg, foot) with three joint motors, moving in the x-z plane."
FRAME_SKIP = 4  # control at 50 Hz on a 0.005 s physics step
CAMERA = "track"


def observation(qpos, qvel, sensor, xp):
    # everything but the global x position; velocities scaled to O(1)
    return xp.concatenate([qpos[..., 1:], xp.clip(0.1 * qvel, -1.0, 1.0)], axis=-1)


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1)) + rng.uniform(-5e-3, 5e-3, (n, qpos0.size))
    qvel = rng.uniform(-5e-3, 5e-3, (n, qpos0.size))
    return qpos, qvel


def _forward(s, xp):
    return s["forward_velocity"]


AIRBORNE_CLEARANCE = 0.1  # m: the whole body this far above the floor counts as in the air


def _backflip(s, xp):
    # backward rotation counts only in the air (nothing touching the floor, every part >= 0.1 m above it), forward
    # rotation always counts against: tumbling backwards along the floor earns nothing, and rocking (rotating back in
    # the air, forward again on the ground) earns nothing either; the sum over an episode never exceeds the torso's
    # net backward rotation. The clip only guards against a diverging simulation (no motion comes near 100 rad/s).
    airborne = (s["lowest_point_height"] > AIRBORNE_CLEARANCE) & (s["foot_on_floor"] < 0.5) & (s["body_on_floor"] < 0.5)
    backward = xp.clip(-s["pitch_rate"], -100.0, 100.0)
    return xp.where(airborne, backward, xp.minimum(backward, 0.0))


def _fell(s, xp):
    return (s["torso_height"] < 0.7) | (xp.abs(s["torso_pitch"]) > 0.2)


TASKS = [
    Task(
        name="hop",
        description="Hop forward (toward +x) as fast as possible without falling over.",
        episode_steps=500,
        train_steps=5_000_000,
        fitness=_forward,
        fitness_doc="mean forward (+x) velocity of the torso (m/s); the episode ends when the torso drops below "
        "0.7 m or tilts more than 0.2 rad",
        success_threshold=1.0,
        terminate=_fell,
        termination_doc="the torso centre drops below 0.7 m (s['torso_height'], 1.25 m standing) or the torso tilts "
        "more than 0.2 rad (about 11 degrees) from vertical (|s['torso_pitch']| > 0.2)",
        score_doc="the mean forward (+x) speed of the torso in m/s over the episode",
    ),
    Task(
        name="backflip",
        description="Do backflips: jump and rotate the body backwards (head over heels toward -x) while in the air, "
        "again and again.",
        episode_steps=500,
        train_steps=5_000_000,
        fitness=_backflip,
        fitness_doc="mean backward rotation rate of the torso (rad/s) counted only while the hopper is in the air "
        "(no part touching the floor, its lowest point more than 0.1 m above it); forward rotation always counts "
        "against. 0.63 = one full backflip in the air per 10 s episode; rolling or tumbling along the floor scores "
        "<= 0 (version 1 paid any backward rotation, and a hopper tumbling along the floor scored 7.2)",
        success_threshold=1.0,
        score_doc="the mean backward rotation rate of the torso in rad/s over the episode, counted only while the whole "
        "hopper is in the air; forward rotation always counts against (6.3 = one full backflip per second)",
        fitness_version=2,
    ),
]

# PPO settings (overrides of rewardsmith.config.TrainConfig), checked on the native CPU trainer. Hop (reference
# reward): 2.5 m/s, success 1.00 after 3M steps (~110 s on 2 cores), seeds 0 and 1.
# Backflip (reference reward, seed 1, 5M steps, 3.5 min): fitness version 2 11.5 rad/s, success 1.00 (version 1:
# 6.8): 19-28 backward turns per episode, 63-77% of the steps entirely in the air, several turns per jump; it
# lands on the torso or leg about as often as on the foot (the task does not ask for landings on the foot).
PPO = {
    "num_envs": 128,
    "rollout_steps": 64,
    "learning_rate": 3e-4,
    "epochs": 10,
    "minibatches": 16,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "entropy_coef": 1e-3,
    "hidden": (64, 64),
    "clip": 0.2,
}
