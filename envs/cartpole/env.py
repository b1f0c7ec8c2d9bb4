"""Cart-pole (balance and swing-up), the smallest env: trains in seconds on a CPU."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A cart on a 3.8 m rail with a 1 m pole hinged on top; one action pushes the cart."
FRAME_SKIP = 2  # control at 50 Hz on a 0.01 s physics step
CAMERA = "side"


def observation(qpos, qvel, sensor, xp):
    angle = qpos[..., 1]
    return xp.stack([qpos[..., 0], xp.cos(angle), xp.sin(angle), qvel[..., 0], qvel[..., 1]], axis=-1)


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1)) + rng.uniform(-0.05, 0.05, (n, qpos0.size))
    if task == "swingup":
        qpos[:, 1] += np.pi  # start hanging down
    qvel = rng.normal(0.0, 0.01, (n, 2))
    return qpos, qvel


def _upright(s, xp):
    return (s["pole_upright"] > 0.95).astype(xp.float32)


def _balanced(s, xp):
    return ((s["pole_upright"] > 0.95) & (xp.abs(s["cart_x"]) < 1.5)).astype(xp.float32)


def _fell(s, xp):
    return (s["pole_upright"] < 0.7) | (xp.abs(s["cart_x"]) > 1.8)


TASKS = [
    Task(
        name="balance",
        description="Keep the pole balanced upright above the cart, with the cart near the centre of the rail.",
        episode_steps=500,
        train_steps=100_000,
        fitness=_balanced,
        fitness_doc="fraction of the episode with the pole within ~18 degrees of upright and |cart_x| < 1.5",
        success_threshold=0.9,
        success_doc="its task score is at least 0.9: at least 450 of its 500 steps have the pole within about 18 "
        "degrees of upright (s['pole_upright'] > 0.95) and the cart within 1.5 m of the centre (|s['cart_x']| < "
        "1.5); steps after an early end count as not balanced",
        terminate=_fell,
        termination_doc="the pole tips more than about 45 degrees from upright (s['pole_upright'] < 0.7) or the cart "
        "goes further than 1.8 m from the centre (|s['cart_x']| > 1.8)",
        score_doc="the fraction of the episode's steps (0 to 1) with the pole upright and the cart near the centre",
    ),
    Task(
        name="swingup",
        description="The pole starts hanging down. Swing it up and keep it balanced upright above the cart for the "
        "rest of the episode (spinning it round and round is not balancing).",
        episode_steps=500,
        train_steps=400_000,
        fitness=_upright,
        fitness_doc="fraction of the episode with the pole within ~18 degrees of upright",
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 250 of its 500 steps have the pole within about 18 "
        "degrees of upright (s['pole_upright'] > 0.95), in a row or not; a pole spinning round is upright only "
        "briefly on each turn",
        score_doc="the fraction of the episode's steps (0 to 1) with the pole upright",
    ),
]

# PPO settings that learn this env (overrides of rewardsmith.config.TrainConfig).
PPO = {"num_envs": 64, "rollout_steps": 32, "learning_rate": 1e-3, "epochs": 4, "minibatches": 4}

# Brax PPO on MJX (GPU).
PPO_MJX = {"num_envs": 2048, "batch_size": 1024, "unroll_length": 16, "num_minibatches": 16,
           "num_updates_per_batch": 4, "learning_rate": 1e-3, "discounting": 0.99}
