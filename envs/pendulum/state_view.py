"""Pendulum: a 0.5 m pole (1 kg, mostly in a ball at the tip) on a hinge at the origin, swinging in the x-z plane.
The action is one torque command in [-1, 1] (max 2 N m: too weak to lift the pole straight up, it must swing).
Every field is an array with the batch dimensions first (use `...` indexing, e.g. tip_pos[..., 2])."""


def state_view(qpos, qvel, sensor, xp):
    angle = qpos[..., 0]
    return {
        "pole_angle": xp.arctan2(xp.sin(angle), xp.cos(angle)),  # rad in (-pi, pi]; 0 = upright, +-pi = hanging down
        "pole_angular_velocity": qvel[..., 0],  # rad/s; positive tilts the tip toward +x
        "pole_upright": xp.cos(angle),  # cosine of the pole angle: 1 upright, -1 hanging down
        "tip_pos": sensor["tip_pos"],  # [..., 3] world position of the tip (m); z = 0.5 upright, -0.5 hanging
    }
