"""Half cheetah: a planar two-legged runner (like gymnasium's HalfCheetah-v5): run, run backwards, flip."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A planar half cheetah (torso and head; back and front thigh, shin, foot) with six joint motors."
FRAME_SKIP = 5  # control at 20 Hz on a 0.01 s physics step, as gymnasium
CAMERA = "track"


def observation(qpos, qvel, sensor, xp):
    # everything but the global x position; the pitch as cos/sin (flips make it unbounded); velocities scaled to O(1)
    pitch = qpos[..., 2]
    return xp.concatenate(
        [qpos[..., 1:2], xp.cos(pitch)[..., None], xp.sin(pitch)[..., None], qpos[..., 3:],
         xp.clip(0.1 * qvel, -1.0, 1.0)],
        axis=-1,
    )


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1)) + rng.uniform(-0.1, 0.1, (n, qpos0.size))
    qpos[:, 1] = qpos0[1]  # start at the rest height, not in the floor
    qvel = rng.normal(0.0, 0.1, (n, qpos0.size))
    return qpos, qvel


def _forward(s, xp):
    return s["forward_velocity"]


def _backward(s, xp):
    return -s["forward_velocity"]


def _backflip(s, xp):
    return xp.clip(-s["pitch_rate"], -15.0, 15.0)


TASKS = [
    Task(
        name="run",
        description="Run forward (toward +x) as fast as possible.",
        episode_steps=500,
        train_steps=5_000_000,
        fitness=_forward,
        fitness_doc="mean forward (+x) velocity of the torso (m/s)",
        success_threshold=3.0,
    ),
    Task(
        name="run_backwards",
        description="Run backwards (toward -x, the back leg leading) as fast as possible.",
        episode_steps=500,
        train_steps=5_000_000,
        fitness=_backward,
        fitness_doc="mean backward (-x) velocity of the torso (m/s)",
        success_threshold=2.0,
    ),
    Task(
        name="flip",
        description="Do backflips: rotate the whole body backwards (nose up, over the back) again and again.",
        episode_steps=500,
        train_steps=5_000_000,
        fitness=_backflip,
        fitness_doc="mean backward rotation rate of the torso (rad/s, per step clipped to [-15, 15]); 2.5 = one "
        "backflip per 2.5 s",
        success_threshold=2.5,
    ),
]

# PPO settings (overrides of rewardsmith.config.TrainConfig); guesses from Brax/CleanRL halfcheetah, to be tuned.
PPO = {
    "num_envs": 128,
    "rollout_steps": 64,
    "learning_rate": 3e-4,
    "epochs": 10,
    "minibatches": 16,
    "gamma": 0.98,
    "gae_lambda": 0.95,
    "entropy_coef": 1e-3,
    "hidden": (64, 64),
    "clip": 0.2,
}
