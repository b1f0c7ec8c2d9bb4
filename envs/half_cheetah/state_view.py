"""Half cheetah: a two-legged runner that moves only in the vertical x-z plane (+x is forward, +z up). A horizontal
1 m torso with a head at its front end (+x) stands on a back leg and a front leg (thigh, shin, foot each); the torso
centre is ~0.6 m high when standing. Every posture is possible, even upside down.
The action is six torque commands in [-1, 1]: [back thigh, back shin, back foot, front thigh, front shin, front foot].
Every field is an array with the batch dimensions first (use `...` indexing, e.g. nose_pos[..., 1])."""


def state_view(qpos, qvel, sensor, xp):
    return {
        "torso_x": qpos[..., 0],  # horizontal position of the torso centre (m); starts at 0
        "torso_height": qpos[..., 1],  # height of the torso centre above the floor (m); ~0.6 standing
        "torso_pitch": qpos[..., 2],  # torso rotation (rad, unbounded: counts turns); 0 level, + nose down, - nose up
        "forward_velocity": qvel[..., 0],  # torso velocity along +x (m/s); negative = moving backwards
        "vertical_velocity": qvel[..., 1],  # torso velocity along +z (m/s)
        "pitch_rate": qvel[..., 2],  # torso angular velocity (rad/s); + nose turning down, - nose up (backflip)
        "back_leg_angles": qpos[..., 3:6],  # [..., 3] back thigh, shin, foot (rad); 0 = rest pose
        "front_leg_angles": qpos[..., 6:9],  # [..., 3] front thigh, shin, foot (rad); 0 = rest pose
        "back_leg_velocities": qvel[..., 3:6],  # [..., 3] back thigh, shin, foot (rad/s)
        "front_leg_velocities": qvel[..., 6:9],  # [..., 3] front thigh, shin, foot (rad/s)
        "nose_pos": sensor["nose_pos"][..., ::2],  # [..., 2] x, z of the tip of the head (m)
        "back_foot_pos": sensor["back_foot_pos"][..., ::2],  # [..., 2] x, z of the back foot's tip (m)
        "front_foot_pos": sensor["front_foot_pos"][..., ::2],  # [..., 2] x, z of the front foot's tip (m)
        "back_foot_on_floor": xp.minimum(sensor["back_foot_floor"], 1.0),  # 1.0 when touching the floor, else 0.0
        "front_foot_on_floor": xp.minimum(sensor["front_foot_floor"], 1.0),  # 1.0 when touching the floor, else 0.0
        "torso_on_floor": xp.minimum(sensor["torso_floor"] + sensor["head_floor"], 1.0),  # 1.0: torso or head on floor
        "legs_on_floor": xp.minimum(  # 1.0 when a thigh or shin (not a foot) touches the floor, else 0.0
            sensor["back_thigh_floor"] + sensor["back_shin_floor"] + sensor["front_thigh_floor"]
            + sensor["front_shin_floor"], 1.0
        ),
    }
