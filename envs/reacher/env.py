"""Reacher: a planar 2-link arm that must bring its fingertip onto a random target (like gymnasium's Reacher)."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A planar 2-link arm (reach 0.21 m) with two motors, and a target drawn anew each episode."
FRAME_SKIP = 2  # control at 50 Hz on a 0.01 s physics step
CAMERA = "top"


def observation(qpos, qvel, sensor, xp):
    angles = qpos[..., :2]
    fingertip = sensor["fingertip_pos"][..., :2]
    target = sensor["target_pos"][..., :2]
    return xp.concatenate(
        [xp.cos(angles), xp.sin(angles), target, target - fingertip, 0.1 * qvel[..., :2]], axis=-1
    )


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1))
    qpos[:, 0] = rng.uniform(-np.pi, np.pi, n)
    qpos[:, 1] = rng.uniform(-0.5, 0.5, n)
    radius = 0.2 * np.sqrt(rng.uniform(0.05, 1.0, n))  # uniform over the reachable disc, not at the shoulder
    heading = rng.uniform(-np.pi, np.pi, n)
    qpos[:, 2] = radius * np.cos(heading)  # the target's slide joints: its x, y
    qpos[:, 3] = radius * np.sin(heading)
    qvel = np.zeros((n, qpos0.size))
    qvel[:, :2] = rng.normal(0.0, 0.05, (n, 2))
    return qpos, qvel


def _on_target(s, xp):
    return (s["distance"] < 0.02).astype(xp.float32)


TASKS = [
    Task(
        name="reach",
        description="Move the fingertip onto the target (a new target position every episode) quickly and keep it "
        "there, still, for the rest of the episode.",
        episode_steps=150,
        train_steps=1_000_000,
        fitness=_on_target,
        fitness_doc="fraction of the episode with the fingertip within 2 cm of the target (centre to centre)",
        success_threshold=0.6,
        success_doc="its task score is at least 0.6: at least 90 of its 150 steps have the fingertip within 2 cm of "
        "the target, centre to centre (s['distance'] < 0.02)",
        score_doc="the fraction of the episode's steps (0 to 1) with the fingertip on the target",
    ),
]

# PPO settings (overrides of rewardsmith.config.TrainConfig); guesses from CleanRL/Brax reacher, to be tuned.
PPO = {
    "num_envs": 64,
    "rollout_steps": 50,
    "learning_rate": 1e-3,
    "epochs": 8,
    "minibatches": 8,
    "gamma": 0.95,
    "gae_lambda": 0.95,
    "entropy_coef": 1e-3,
    "hidden": (64, 64),
    "clip": 0.2,
}
