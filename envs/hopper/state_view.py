"""Hopper: a one-legged robot that moves only in the vertical x-z plane (+x is forward, +z up). A 0.4 m torso sits
on a thigh (0.45 m), a leg (0.5 m) and a foot (0.39 m, pointing forward); it stands 1.25 m tall (torso centre).
The action is three torque commands in [-1, 1]: [thigh (hip), knee, ankle] (200 N m each at 1).
Every field is an array with the batch dimensions first (use `...` indexing, e.g. toe_pos[..., 0])."""


def state_view(qpos, qvel, sensor, xp):
    # the body's surface: capsules around torso top-hip and hip-knee (radius 0.05), knee-ankle (0.04) and heel-toe
    # (0.06; the ankle lies on it), so its lowest point is the lowest of those segment ends minus its radius
    upper = xp.minimum(xp.minimum(sensor["torso_top_pos"][..., 2], sensor["hip_pos"][..., 2]), sensor["knee_pos"][..., 2])
    foot = xp.minimum(sensor["toe_pos"][..., 2], sensor["heel_pos"][..., 2])
    return {
        "torso_x": qpos[..., 0],  # horizontal position of the torso centre (m); starts at 0
        "torso_height": qpos[..., 1],  # height of the torso centre above the floor (m); 1.25 standing upright
        "torso_pitch": qpos[..., 2],  # torso tilt (rad, unbounded: counts turns); 0 upright, + leaning forward
        "forward_velocity": qvel[..., 0],  # torso velocity along +x (m/s)
        "vertical_velocity": qvel[..., 1],  # torso velocity along +z (m/s)
        "pitch_rate": qvel[..., 2],  # torso angular velocity (rad/s); + tips forward, - rotates backward (backflip)
        # [..., 3] thigh, knee, ankle (rad); 0 = leg straight down; thigh and knee range -2.6..0 (thigh < 0 swings
        # the leg backward, knee < 0 bends the knee), ankle -0.8..0.8
        "joint_angles": qpos[..., 3:6],
        "joint_velocities": qvel[..., 3:6],  # [..., 3] thigh, knee, ankle (rad/s)
        "knee_pos": sensor["knee_pos"][..., ::2],  # [..., 2] x, z of the knee, where thigh and leg meet (m)
        "toe_pos": sensor["toe_pos"][..., ::2],  # [..., 2] x, z of the toe, the foot's front end (m)
        "heel_pos": sensor["heel_pos"][..., ::2],  # [..., 2] x, z of the heel, the foot's back end (m)
        # height above the floor of the lowest point of the whole body's surface (m): ~0 while any part (standing:
        # the foot) rests on the floor; > 0 only while the hopper is entirely in the air
        "lowest_point_height": xp.minimum(upper - 0.05, foot - 0.06),
        "foot_on_floor": xp.minimum(sensor["foot_floor"], 1.0),  # 1.0 when the foot touches the floor, else 0.0
        # 1.0 when any other part (torso, thigh or leg) touches the floor, else 0.0 (0.0 while standing or hopping)
        "body_on_floor": xp.minimum(sensor["torso_floor"] + sensor["thigh_floor"] + sensor["leg_floor"], 1.0),
    }
