"""Walker2d: a two-legged robot that moves only in the vertical x-z plane (+x is forward, +z up). A 0.4 m torso sits
on two legs, each a thigh (0.45 m), a leg (0.5 m) and a foot (0.2 m, pointing forward); it stands 1.25 m tall
(torso centre). The action is six torque commands in [-1, 1] (100 N m each at 1):
[right hip, right knee, right ankle, left hip, left knee, left ankle].
Every field is an array with the batch dimensions first (use `...` indexing, e.g. right_foot_pos[..., 1])."""


def state_view(qpos, qvel, sensor, xp):
    return {
        "torso_x": qpos[..., 0],  # horizontal position of the torso centre (m); starts at 0
        "torso_height": qpos[..., 1],  # height of the torso centre above the floor (m); 1.25 standing upright
        "torso_pitch": qpos[..., 2],  # torso tilt (rad, unbounded: counts turns); 0 upright, + leaning forward
        "forward_velocity": qvel[..., 0],  # torso velocity along +x (m/s); negative = moving backwards
        "vertical_velocity": qvel[..., 1],  # torso velocity along +z (m/s)
        "pitch_rate": qvel[..., 2],  # torso angular velocity (rad/s); + tips forward
        # [..., 3] right hip, knee, ankle (rad); 0 = leg straight down; hip and knee range -2.6..0 (hip < 0 swings
        # the thigh backward, knee < 0 bends the knee), ankle -0.8..0.8
        "right_leg_angles": qpos[..., 3:6],
        "left_leg_angles": qpos[..., 6:9],  # [..., 3] left hip, knee, ankle (rad); same conventions as the right leg
        "right_leg_velocities": qvel[..., 3:6],  # [..., 3] right hip, knee, ankle (rad/s)
        "left_leg_velocities": qvel[..., 6:9],  # [..., 3] left hip, knee, ankle (rad/s)
        "right_foot_pos": sensor["right_foot_pos"][..., ::2],  # [..., 2] x, z of the middle of the right foot (m)
        "left_foot_pos": sensor["left_foot_pos"][..., ::2],  # [..., 2] x, z of the middle of the left foot (m)
        "right_foot_on_floor": xp.minimum(sensor["right_foot_floor"], 1.0),  # 1.0 when touching the floor, else 0.0
        "left_foot_on_floor": xp.minimum(sensor["left_foot_floor"], 1.0),  # 1.0 when touching the floor, else 0.0
    }
