"""Ant: a quadruped with a free root (like gymnasium's Ant-v5): run forward, lie down, jump."""

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A four-legged ant (sphere torso, four 2-joint legs) with eight joint motors, free to move in 3-D."
FRAME_SKIP = 5  # control at 20 Hz on a 0.01 s physics step, as gymnasium
CAMERA = "track"
STANDING_HEIGHT = 0.5  # torso centre height (m) when standing still with zero action


def observation(qpos, qvel, sensor, xp):
    # everything but the global x, y position; velocities scaled to O(1)
    return xp.concatenate([qpos[..., 2:], xp.clip(0.1 * qvel, -1.0, 1.0)], axis=-1)


def initial_state(rng, qpos0, n, task):
    qpos = np.tile(qpos0, (n, 1))
    qpos[:, 2] = 0.55  # standing pose, just above the floor
    qpos[:, 7::2] = rng.uniform(-0.1, 0.1, (n, 4))  # hips
    qpos[:, 8::2] = 0.87 + rng.uniform(-0.1, 0.1, (n, 4))  # ankles at the spring's rest angle
    quat = np.concatenate([np.ones((n, 1)), rng.normal(0.0, 0.02, (n, 3))], axis=1)
    qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    qvel = rng.normal(0.0, 0.1, (n, qpos0.size - 1))
    return qpos, qvel


def _forward(s, xp):
    return s["torso_velocity"][..., 0]


def _lying(s, xp):
    spread = xp.mean(s["foot_spread"], axis=-1) > 1.0
    return ((s["belly_on_floor"] > 0.5) & (s["torso_up"] > 0.8) & spread).astype(xp.float32)


def _jump_height(s, xp):
    # the height counts only in the air (no foot, no belly on the floor): standing on tiptoe or rearing up on two
    # legs lifts the torso without a jump
    airborne = (xp.max(s["foot_on_floor"], axis=-1) < 0.5) & (s["belly_on_floor"] < 0.5)
    return xp.where(airborne, xp.clip(s["torso_height"] - STANDING_HEIGHT, 0.0, 1.0), 0.0)


def _flipped(s, xp):
    return s["torso_up"] < 0.0


TASKS = [
    Task(
        name="run",
        description="Run forward (toward +x) as fast as possible.",
        episode_steps=500,
        train_steps=8_000_000,
        fitness=_forward,
        fitness_doc="mean forward (+x) velocity of the torso (m/s); the episode ends if the ant turns upside down",
        success_threshold=2.0,
        success_doc="its task score is at least 2: the torso's forward (+x) speed, s['torso_velocity'][..., 0], "
        "averages at least 2 m/s over all 500 steps of the episode (steps after an early end count as 0 m/s)",
        terminate=_flipped,
        termination_doc="the ant turns upside down (s['torso_up'] < 0)",
        score_doc="the mean forward (+x) speed of the torso in m/s over the episode",
    ),
    Task(
        name="lie_down",
        description="Lie down flat on the belly, torso level, with all four legs spread out wide, and stay there for "
        "the rest of the episode.",
        episode_steps=200,
        train_steps=5_000_000,
        fitness=_lying,
        fitness_doc="fraction of the episode with the torso on the floor, upright (up axis z > 0.8), and the feet "
        "more than 1.0 m from the torso centre on average (legs spread; 0.95 when standing)",
        success_threshold=0.6,
        success_doc="its task score is at least 0.6: at least 120 of its 200 steps are spent lying on the belly with "
        "the legs spread, with the torso touching the floor (s['belly_on_floor'] = 1), its up axis within about 37 "
        "degrees of vertical (s['torso_up'] > 0.8) and the feet more than 1.0 m from the torso centre on average "
        "(the mean of s['foot_spread'] over the four legs; about 0.95 m standing)",
        score_doc="the fraction of the episode's steps (0 to 1) spent lying level on the belly with the legs spread",
    ),
    Task(
        name="jump",
        description="Jump as high as possible, again and again, landing on the feet: the whole ant leaves the "
        "floor and the torso rises well above its standing height.",
        episode_steps=300,
        train_steps=10_000_000,
        fitness=_jump_height,
        fitness_doc="mean height of the torso above its standing height of 0.5 m (m, per step clipped to [0, 1]), "
        "counted only while no foot (lower leg) and not the belly touches the floor; the episode ends if the ant "
        "turns upside down. Version 1 also counted the height while standing (tiptoe, rearing up)",
        success_threshold=0.25,
        success_doc="its task score is at least 0.25: the torso's height above its standing height of 0.5 m, counted "
        "only on steps when the whole ant is in the air (no lower leg and not the belly touching the floor; 0 on "
        "every other step) and at most 1 m per step, averages at least 0.25 m over all 300 steps of the episode "
        "(steps after an early end count 0)",
        terminate=_flipped,
        termination_doc="the ant turns upside down (s['torso_up'] < 0)",
        score_doc="the mean height (m) of the torso above its standing height per step, counted only while the whole "
        "ant is in the air (0 while anything touches the floor)",
        fitness_version=2,
    ),
]

# PPO settings (overrides of rewardsmith.config.TrainConfig), tuned on the native CPU trainer. Run (reference reward,
# seed 0): 5.1 m/s, success 0.97 after 5M steps (5 min on 2 cores). gamma 0.97 and entropy 1e-2 (Brax's) flipped the
# ant over in half of the episodes (a flip ends the episode): 1.3 m/s, success 0.16 after 5M steps.
# Jump (reference reward, seed 1, 10M steps, 15 min): fitness version 2 0.29, success 0.52 (version 1: 0.30, 0.56);
# episodes last 182 of 300 steps on average (landings upside down end them).
PPO = {
    "num_envs": 256,
    "rollout_steps": 32,
    "learning_rate": 3e-4,
    "epochs": 5,
    "minibatches": 16,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "entropy_coef": 1e-3,
    "hidden": (128, 128),
    "clip": 0.3,
}
