"""Ant: a quadruped whose torso is a 0.25 m sphere with four legs (front_left, front_right, back_left, back_right; the
front is +x, left is +y, up is +z). Each leg has a hip joint (swings the leg forward/back, +-30 deg) and an ankle
joint (lifts the lower leg: 0 = level, + = foot down, range -10..70 deg, spring rest 50 deg). Standing, the torso
centre is ~0.5 m high and the feet are ~0.95 m from it horizontally; lying flat on its belly it is at 0.25 m.
The action is eight torque commands in [-1, 1]: [hip, ankle] for front_left, front_right, back_left, back_right.
Every field is an array with the batch dimensions first (use `...` indexing, e.g. torso_pos[..., 2])."""

LEGS = ("front_left", "front_right", "back_left", "back_right")  # the order of every per-leg axis below


def state_view(qpos, qvel, sensor, xp):
    torso = sensor["torso_pos"]
    feet = xp.stack([sensor[f"{leg}_foot_pos"] for leg in LEGS], axis=-2)
    foot_offsets = feet[..., :2] - torso[..., None, :2]
    return {
        "torso_pos": torso,  # [..., 3] world position of the torso centre (m); starts near (0, 0, 0.55)
        "torso_height": torso[..., 2],  # height of the torso centre (m); ~0.5 standing, 0.25 lying on the belly
        "torso_up": sensor["torso_zaxis"][..., 2],  # z of the torso's up axis: 1 upright, 0 on its side, -1 upside down
        "torso_forward": sensor["torso_xaxis"],  # [..., 3] world direction of the torso's front (+x at the start)
        "torso_velocity": sensor["torso_vel"],  # [..., 3] world linear velocity of the torso (m/s); [..., 0] = forward
        "torso_angular_velocity": sensor["torso_angvel"],  # [..., 3] world angular velocity of the torso (rad/s)
        "hip_angles": qpos[..., 7::2],  # [..., 4] hip angles (rad), per leg; 0 = leg pointing diagonally out
        "ankle_angles": qpos[..., 8::2],  # [..., 4] ankle angles (rad), per leg; 0 = lower leg level, + = foot down
        "joint_velocities": qvel[..., 6:],  # [..., 8] hip and ankle velocities (rad/s), in the action's order
        "foot_pos": feet,  # [..., 4, 3] world positions of the four foot tips (m), per leg in LEGS order
        "foot_spread": xp.sqrt(xp.sum(foot_offsets**2, axis=-1)),  # [..., 4] horizontal torso-to-foot distance (m)
        "foot_on_floor": xp.minimum(
            xp.stack([sensor[f"{leg}_foot_floor"] for leg in LEGS], axis=-1), 1.0
        ),  # [..., 4] 1.0 where a lower leg touches the floor, else 0.0
        "belly_on_floor": xp.minimum(sensor["belly_floor"], 1.0),  # 1.0 when the torso touches the floor, else 0.0
    }
