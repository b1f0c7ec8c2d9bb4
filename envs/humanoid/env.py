"""Humanoid: a 3-D humanoid with 21 actuated joints (DM Control / MuJoCo Playground dimensions); the VLM-RM poses
(kneel, sit, lie down, splits, arms raised, stand on one leg) and stand, run, jump. Every task starts standing."""

import dataclasses

import numpy as np

from rewardsmith.env.task import Task

DESCRIPTION = "A 3-D humanoid (head, torso, waist, pelvis, legs, arms) with 21 joint motors, on a flat floor."
FRAME_SKIP = 5  # control at 40 Hz on a 0.005 s physics step
CAMERA = "side"
STANDING_COM_HEIGHT = 0.85  # centre-of-mass height (m) in the initial standing pose
_CONTACTS = (
    "head_floor", "torso_floor", "upper_waist_floor", "lower_waist_floor", "pelvis_floor",
    "left_knee_floor", "right_knee_floor", "left_shin_floor", "right_shin_floor",
    "left_foot_outer_floor", "left_foot_inner_floor", "right_foot_outer_floor", "right_foot_inner_floor",
    "left_hand_floor", "right_hand_floor",
)


def observation(qpos, qvel, sensor, xp):
    # height, orientation and joint angles (not the global x, y); scaled velocities; floor contact flags
    contacts = xp.stack([xp.minimum(sensor[name], 1.0) for name in _CONTACTS], axis=-1)
    return xp.concatenate([qpos[..., 2:], xp.clip(0.1 * qvel, -3.0, 3.0), contacts], axis=-1)


def initial_state(rng, qpos0, n, task):
    """Standing, facing +x, feet just touching the floor, with small noise on the joints and velocities."""
    qpos = np.tile(qpos0, (n, 1))
    qpos[:, 2] = 1.286  # feet 1 mm above the floor
    quat = np.concatenate([np.ones((n, 1)), rng.normal(0.0, 0.005, (n, 3))], axis=1)  # tilt/turn of ~0.01 rad
    qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    qpos[:, 7:] += rng.uniform(-0.02, 0.02, (n, qpos0.size - 7))
    qvel = rng.normal(0.0, 0.02, (n, qpos0.size - 1))
    return qpos, qvel


def _f32(mask, xp):
    return mask.astype(xp.float32)


def _standing(s, xp):
    return _f32((s["head_pos"][..., 2] > 1.4) & (s["torso_up"] > 0.9), xp)


_NOT_FEET = ("head_on_floor", "torso_on_floor", "pelvis_on_floor", "left_knee_on_floor", "right_knee_on_floor",
             "left_shin_on_floor", "right_shin_on_floor", "left_hand_on_floor", "right_hand_on_floor")


def _only_feet_on_floor(s, xp):
    return sum(s[k] for k in _NOT_FEET) < 0.5


def _forward(s, xp):
    # running means on the feet: the speed counts while nothing but the feet touches the floor and the head is above
    # 1.2 m (1.48 standing, at most 1.11 kneeling upright); walking on the knees, crawling or sliding count only
    # against
    v = s["com_velocity"][..., 0]
    up = _only_feet_on_floor(s, xp) & (s["head_pos"][..., 2] > 1.2)
    return xp.where(up, v, xp.minimum(v, 0.0))


def _kneeling(s, xp):
    knees = (s["left_knee_on_floor"] > 0.5) & (s["right_knee_on_floor"] > 0.5)
    return _f32(knees & (s["torso_up"] > 0.7) & (s["head_pos"][..., 2] > 0.8), xp)


def toppled_v1(s, xp):
    """Kneel's termination in fitness version 1 (kept for the audit that compares it with version 2): only the tilt.
    It misses a fall backwards onto folded legs, which prop the back up (torso_up ~0.4 lying on the back)."""
    return s["torso_up"] < 0.3


KNEEL_MIN_CHEST = 0.5  # m: the chest below this is not kneeling (the lowest kneel the fitness counts has it >= 0.61)


def _toppled(s, xp):
    # the upper body tipped more than ~70 degrees from vertical (face down on hands and knees, or fallen), or the chest
    # below 0.5 m: fallen (onto the back over folded legs too, where the legs prop the back up above the tilt limit),
    # sitting or lying. No kneel the fitness counts comes near it: _kneeling needs the head above 0.8 m, and the head
    # is at most 0.19 m above the chest (1.48 and 1.29 standing), so the chest is above 0.61 m (0.91 m kneeling
    # upright, the thighs vertical)
    return (s["torso_up"] < 0.3) | (s["torso_pos"][..., 2] < KNEEL_MIN_CHEST)


def _sitting(s, xp):
    feet = (s["left_foot_on_floor"] > 0.5) & (s["right_foot_on_floor"] > 0.5)
    knees_up = (s["left_knee_on_floor"] < 0.5) & (s["right_knee_on_floor"] < 0.5)
    return _f32((s["pelvis_pos"][..., 2] < 0.5) & (s["torso_up"] > 0.7) & feet & knees_up, xp)


def _lying(s, xp):
    low = (s["torso_pos"][..., 2] < 0.3) & (s["head_pos"][..., 2] < 0.3) & (s["pelvis_pos"][..., 2] < 0.3)
    return _f32(low, xp)


def _splits(s, xp):
    # the upper body must be up (within ~60 degrees of vertical): lying on the side with the legs scissored puts the
    # feet as far apart, but is not the splits
    apart = xp.abs(s["left_foot_pos"][..., 0] - s["right_foot_pos"][..., 0]) > 1.2
    return _f32(apart & (s["pelvis_pos"][..., 2] < 0.5) & (s["torso_up"] > 0.5), xp)


def _arms_raised(s, xp):
    head = s["head_pos"][..., 2]
    hands_up = (s["left_hand_pos"][..., 2] > head + 0.1) & (s["right_hand_pos"][..., 2] > head + 0.1)
    return _f32(hands_up & (head > 1.35) & (s["torso_up"] > 0.8), xp)


def _airborne(s, xp):
    # 0.2 m is out of reach standing: on tiptoe with both arms raised the centre of mass rises only ~0.1 m
    return _f32(s["com_pos"][..., 2] > STANDING_COM_HEIGHT + 0.2, xp)


def _one_leg(s, xp):
    left_up = (s["left_foot_pos"][..., 2] > 0.2) & (s["right_foot_on_floor"] > 0.5)
    right_up = (s["right_foot_pos"][..., 2] > 0.2) & (s["left_foot_on_floor"] > 0.5)
    return _f32((left_up | right_up) & (s["head_pos"][..., 2] > 1.3), xp)


def _fell(s, xp):
    return s["torso_pos"][..., 2] < 0.8


_FELL = "; the episode ends when the chest drops below 0.8 m"
_FELL_LLM = ("the chest (s['torso_pos'][..., 2], 1.29 m standing) drops below 0.8 m: fallen, sitting, lying, "
             "crouching low or walking on the knees")

TASKS = [
    Task(
        name="kneel",
        description="Kneel down and stay kneeling: both knees on the floor, the upper body upright above them and "
        "the head high (not bent forward onto the hands, not sitting on the floor or lying); get there quickly and "
        "hold the pose for the rest of the episode.",
        episode_steps=200,
        # success >= 0.8 (16 deterministic episodes) at 1.5M / 3.0M steps on seeds 1 / 2 with this file's PPO
        # settings (scripts/tune_ppo.py); 10M before the 64x64 / 32-minibatch re-tune, which needed 3.5M / 3.0M
        train_steps=5_000_000,
        fitness=_kneeling,
        fitness_doc="fraction of the episode with both kneecaps on the floor, torso up axis z > 0.7 and the head "
        "above 0.8 m (VLM-RM's kneel); the episode ends when the torso tips more than ~70 degrees from vertical or "
        "the chest drops below 0.5 m. Version 1 ended it only on the tilt: a kneeler fallen backwards onto its "
        "folded legs, which prop its back up (torso up ~0.4), lay there for dozens of steps before the episode "
        "ended: those steps count 0 either way, but the film showed them, training saw no end to the fall, and a "
        "kneeler that got back up from the floor scored again",
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 100 of its 200 steps, in a row or not, are spent "
        "kneeling upright, with both kneecaps touching the floor (s['left_knee_on_floor'] and "
        "s['right_knee_on_floor'] both 1), the torso within about 45 degrees of upright (s['torso_up'] > 0.7) and "
        "the head above 0.8 m (s['head_pos'][..., 2]; up to about 1.1 m kneeling upright); steps after an early end "
        "count as not kneeling",
        terminate=_toppled,
        termination_doc="the upper body tips more than about 70 degrees from vertical (s['torso_up'] < 0.3): "
        "fallen over, or bent face down onto the hands; or the chest (s['torso_pos'][..., 2], 1.29 m standing, "
        "0.91 m kneeling upright) drops below 0.5 m: fallen (backwards onto folded legs too), sitting or lying",
        score_doc="the fraction of the episode's steps (0 to 1) spent kneeling upright on both knees",
        fitness_version=2,
    ),
    Task(
        name="stand",
        description="Stand up straight and stay standing for the whole episode: upright, head at full standing "
        "height, feet on the floor.",
        episode_steps=400,
        train_steps=20_000_000,
        fitness=_standing,
        fitness_doc="fraction of the episode with the head above 1.4 m and torso up axis z > 0.9" + _FELL,
        success_threshold=0.8,
        success_doc="its task score is at least 0.8: at least 320 of its 400 steps are spent standing up straight, "
        "with the head above 1.4 m (s['head_pos'][..., 2]; 1.48 m standing) and the torso within about 25 degrees of "
        "upright (s['torso_up'] > 0.9); steps after an early end count as not standing",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the fraction of the episode's steps (0 to 1) spent standing up straight",
    ),
    Task(
        name="run",
        description="Run forward (toward +x) as fast as possible on the feet, upright with the head high, without "
        "falling; crawling, walking on the knees or sliding along the floor is not running.",
        episode_steps=400,
        train_steps=50_000_000,
        fitness=_forward,
        fitness_doc="mean forward (+x) velocity of the centre of mass (m/s), counted while only the feet touch the "
        "floor and the head is above 1.2 m (otherwise only backward motion counts, against)" + _FELL + ". Version 1 "
        "counted any velocity: walking on the knees (chest ~0.9 m) was not ended and scored",
        success_threshold=2.0,
        success_doc="its task score is at least 2: the centre of mass's forward (+x) speed, s['com_velocity'][..., "
        "0], averages at least 2 m/s over all 400 steps of the episode, where a step counts its speed only while "
        "nothing but the feet touches the floor and the head is above 1.2 m (on any other step only a backward speed "
        "counts, as a negative; steps after an early end count 0)",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the mean forward (+x) speed in m/s over the episode, counted only while running upright on the "
        "feet (moving backward always counts against)",
        fitness_version=2,
    ),
    Task(
        name="sit",
        description="Sit down on the floor or in a deep squat, with the upper body upright, both feet on the floor "
        "and the knees off the floor, and hold it for the rest of the episode.",
        episode_steps=200,
        train_steps=10_000_000,
        fitness=_sitting,
        fitness_doc="fraction of the episode with the pelvis below 0.5 m, torso up axis z > 0.7, both feet on the "
        "floor and neither knee on the floor",
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 100 of its 200 steps are spent sitting, with the "
        "pelvis below 0.5 m (s['pelvis_pos'][..., 2]; 0.87 m standing), the torso within about 45 degrees of upright "
        "(s['torso_up'] > 0.7), both feet on the floor and neither knee on the floor",
        score_doc="the fraction of the episode's steps (0 to 1) spent sitting or squatting low, upright, feet down",
    ),
    Task(
        name="lie_down",
        description="Lie down flat on the floor (on the back, front or side: head, chest and hips all down) and "
        "stay lying for the rest of the episode.",
        episode_steps=200,
        train_steps=10_000_000,
        fitness=_lying,
        fitness_doc="fraction of the episode with the chest, head and pelvis all below 0.3 m",
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 100 of its 200 steps are spent lying, with the chest, "
        "the head and the pelvis all below 0.3 m (the z of s['torso_pos'], s['head_pos'] and s['pelvis_pos'])",
        score_doc="the fraction of the episode's steps (0 to 1) spent lying flat on the floor",
    ),
    Task(
        name="splits",
        description="Do the splits: one leg stretched forward and the other back, feet far apart along the "
        "floor, pelvis down near the floor, upper body upright; hold it for the rest of the episode.",
        episode_steps=200,
        train_steps=10_000_000,
        fitness=_splits,
        fitness_doc="fraction of the episode with the feet more than 1.2 m apart along x, the pelvis below 0.5 m and "
        "torso up axis z > 0.5 (version 1 had no torso condition: lying on the side, legs scissored, scored 1.0)",
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 100 of its 200 steps are spent in the splits, with the "
        "feet more than 1.2 m apart along x (the direction it faces at the start), the pelvis below 0.5 m "
        "(s['pelvis_pos'][..., 2]) and the torso within about 60 degrees of upright (s['torso_up'] > 0.5)",
        score_doc="the fraction of the episode's steps (0 to 1) spent in the splits with the upper body up",
        fitness_version=2,
    ),
    Task(
        name="arms_raised",
        description="Stand upright and raise both arms high above the head, and hold that pose for the rest of "
        "the episode.",
        episode_steps=200,
        train_steps=10_000_000,
        fitness=_arms_raised,
        fitness_doc="fraction of the episode with both hands more than 0.1 m above the head centre, the head above "
        "1.35 m and torso up axis z > 0.8" + _FELL,
        success_threshold=0.6,
        success_doc="its task score is at least 0.6: at least 120 of its 200 steps are spent with both hands more "
        "than 0.1 m above the head centre, the head above 1.35 m (1.48 m standing) and the torso within about 37 "
        "degrees of upright (s['torso_up'] > 0.8); steps after an early end count as not",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the fraction of the episode's steps (0 to 1) spent standing upright with both hands above the head",
    ),
    Task(
        name="jump",
        description="Jump as high as possible, again and again, landing on the feet.",
        episode_steps=200,
        train_steps=20_000_000,
        fitness=_airborne,
        fitness_doc="fraction of the episode with the centre of mass more than 0.2 m above its standing height "
        "(0.85 m)" + _FELL,
        success_threshold=0.15,
        success_doc="its task score is at least 0.15: at least 30 of its 200 steps (0.75 s in all, in one jump or "
        "many) are spent with the centre of mass more than 0.2 m above its standing height, that is above 1.05 m "
        "(s['com_pos'][..., 2]; 0.85 m standing, about 0.95 m on tiptoe with the arms raised); steps after an early "
        "end count as not",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the fraction of the episode's steps (0 to 1) spent high in the air, the centre of mass well above "
        "its standing height",
    ),
    Task(
        name="stand_on_one_leg",
        description="Stand on one leg: lift one foot well off the floor and balance upright on the other foot, "
        "for as much of the episode as possible.",
        episode_steps=300,
        train_steps=20_000_000,
        fitness=_one_leg,
        fitness_doc="fraction of the episode with one foot more than 0.2 m high, the other foot on the floor and the "
        "head above 1.3 m" + _FELL,
        success_threshold=0.5,
        success_doc="its task score is at least 0.5: at least 150 of its 300 steps are spent with one foot more than "
        "0.2 m high (the z of s['left_foot_pos'] or s['right_foot_pos']) while the other foot touches the floor and "
        "the head is above 1.3 m; steps after an early end count as not",
        terminate=_fell,
        termination_doc=_FELL_LLM,
        score_doc="the fraction of the episode's steps (0 to 1) spent standing upright on one foot, the other foot "
        "well off the floor",
    ),
]


# Kneel without its topple termination (issue 28: does termination shape learning?): the same description, fitness,
# success rule and budget as kneel, but no episode ends early: every episode runs its 200 steps, fallen or not, and a
# step counts as in kneel (kneeling upright or not). `evolve --evolve-termination` lets the LLM write the termination
# that kneel has built in; README "Termination written by the LLM" compares the two.
_KNEEL = next(t for t in TASKS if t.name == "kneel")
TASKS.append(dataclasses.replace(
    _KNEEL,
    name="kneel_free",
    fitness_doc="fraction of the episode with both kneecaps on the floor, torso up axis z > 0.7 and the head above "
    "0.8 m (VLM-RM's kneel, as task kneel); unlike kneel, the episode never ends early: it runs all 200 steps",
    success_doc="its task score is at least 0.5: at least 100 of its 200 steps, in a row or not, are spent kneeling "
    "upright, with both kneecaps touching the floor (s['left_knee_on_floor'] and s['right_knee_on_floor'] both 1), "
    "the torso within about 45 degrees of upright (s['torso_up'] > 0.7) and the head above 0.8 m "
    "(s['head_pos'][..., 2]; up to about 1.1 m kneeling upright)",
    terminate=None,
    termination_doc="",
    fitness_version=1,
))

# PPO settings (overrides of rewardsmith.config.TrainConfig), tuned on the native CPU trainer: 256 envs amortize the
# per-step Python work; 32 minibatches of 256 (160 gradient steps per 8,192 samples, 4x the former 8 of 1,024) learn
# in fewer env steps; a 64x64 network halves the update's CPU time (~94 ms per update against ~190 ms for 128x128 at
# 5 epochs) and the acting forward pass. Kneel, reference reward, deterministic evaluation of 16 episodes every ~500k
# steps (scripts/tune_ppo.py): success >= 0.8 first at 1.5M steps (seed 1) and 3.0M (seed 2); with the former
# settings (128x128, 8 minibatches) at 3.5M and 3.0M; 128x128 with 32 minibatches: 2.5M (seed 1). Seed 0, 2M steps
# (`rewardsmith train`, ~4.7 min on busy cores): 0.924, success 1.00 under kneel's version 1, 0.882, success 1.00
# under version 2 (the chest limit), its lowest chest 0.75 m (0.69 m trained under version 1).
PPO = {
    "num_envs": 256,
    "rollout_steps": 32,
    "learning_rate": 3e-4,
    "epochs": 5,
    "minibatches": 32,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "entropy_coef": 1e-3,
    "hidden": (64, 64),
    "clip": 0.2,
    "time_budget_s": 3600.0,  # 10M steps take ~18 min on 2 idle cores, up to ~30 min on busy ones
}

# Brax PPO on MJX (GPU): thousands of envs per batch, in the range MuJoCo Playground uses for its humanoids.
PPO_MJX = {
    "num_envs": 8192,
    "batch_size": 1024,
    "unroll_length": 20,
    "num_minibatches": 32,
    "num_updates_per_batch": 4,
    "learning_rate": 3e-4,
    "entropy_cost": 1e-2,
    "discounting": 0.97,
    "hidden": (256, 256, 256),
}
