"""Walker2d: a planar two-legged robot (like gymnasium's Walker2d-v5): walk forward, or run backwards."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A planar two-legged walker (torso; thigh, leg, foot per leg) with six joint motors, in the x-z plane."
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


def _backward(s, xp):
    return -s["forward_velocity"]


def _fell(s, xp):
    return (s["torso_height"] < 0.8) | (s["torso_height"] > 2.0) | (xp.abs(s["torso_pitch"]) > 1.0)


_FELL_DOC = "; the episode ends when the torso centre leaves 0.8-2.0 m height or tilts more than 1 rad"
_FELL_LLM = ("the torso centre (s['torso_height'], 1.25 m standing) leaves the band 0.8-2.0 m, or the torso tilts "
             "more than 1 rad (about 57 degrees) from vertical (|s['torso_pitch']| > 1)")

TASKS = [
    Task(
        name="walk",
        description="Walk forward (toward +x) as fast as possible on two legs without falling over.",
        episode_steps=500,
        train_steps=10_000_000,
        fitness=_forward,
        fitness_doc="mean forward (+x) velocity of the torso (m/s)" + _FELL_DOC,
        success_threshold=1.0,
        success_doc="its task score is at least 1: the torso's forward (+x) speed, s['forward_velocity'], averages "
        "at least 1 m/s over all 500 steps of the episode (steps after an early end count as 0 m/s)",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the mean forward (+x) speed of the torso in m/s over the episode",
    ),
    Task(
        name="run_backwards",
        description="Run backwards (toward -x) as fast as possible on two legs without falling over.",
        episode_steps=500,
        train_steps=10_000_000,
        fitness=_backward,
        fitness_doc="mean backward (-x) velocity of the torso (m/s)" + _FELL_DOC,
        success_threshold=0.8,
        success_doc="its task score is at least 0.8: the torso's backward (-x) speed, -s['forward_velocity'], "
        "averages at least 0.8 m/s over all 500 steps of the episode (steps after an early end count as 0 m/s)",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the mean backward (-x) speed of the torso in m/s over the episode",
    ),
]

# PPO settings (overrides of rewardsmith.config.TrainConfig); guesses from Brax/CleanRL walker2d, to be tuned.
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
