"""Reacher: a 2-link arm lying in the horizontal x-y plane, its shoulder at the origin (upper arm 0.1 m, forearm to
the fingertip 0.11 m, reach 0.21 m), and a red target at a random point within 0.2 m of the shoulder.
The action is two torque commands in [-1, 1]: [shoulder, elbow] (positive turns counter-clockwise seen from above).
Every field is an array with the batch dimensions first (use `...` indexing, e.g. fingertip_pos[..., 0])."""


def state_view(qpos, qvel, sensor, xp):
    fingertip = sensor["fingertip_pos"][..., :2]
    target = sensor["target_pos"][..., :2]
    to_target = target - fingertip
    return {
        "fingertip_pos": fingertip,  # [..., 2] fingertip x, y in the world (m)
        "fingertip_velocity": sensor["fingertip_vel"][..., :2],  # [..., 2] fingertip velocity x, y (m/s)
        "target_pos": target,  # [..., 2] target x, y in the world (m); fixed during an episode
        "to_target": to_target,  # [..., 2] vector from the fingertip to the target (m)
        "distance": xp.sqrt(xp.sum(to_target**2, axis=-1)),  # fingertip-to-target distance (m)
        "shoulder_angle": qpos[..., 0],  # rad, unbounded (counts whole turns); 0 = upper arm along +x
        "elbow_angle": qpos[..., 1],  # rad in [-3, 3]; 0 = arm straight
        "shoulder_velocity": qvel[..., 0],  # rad/s
        "elbow_velocity": qvel[..., 1],  # rad/s
    }
