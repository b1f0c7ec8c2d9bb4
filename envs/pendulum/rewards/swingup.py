"""Reference reward for pendulum swing-up, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"upright_bonus": 1.0, "energy": 1.0, "slow_when_up": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    height = (s["pole_upright"] + 1.0) / 2.0  # 0 hanging .. 1 upright
    w = s["pole_angular_velocity"]
    # mechanical energy (J) relative to resting upright (moment of inertia 0.233 kg m^2, gravity torque 4.66 N m):
    # 0 on the path that ends balanced on top; spinning over the top has more, swinging low has less
    energy = 0.5 * 0.233 * w**2 + 4.66 * (s["pole_upright"] - 1.0)
    return {
        "upright_bonus": xp.exp(-4.0 * s["pole_angle"] ** 2),  # sharp peak at upright (dm_control-style tolerance)
        "energy": xp.clip(1.0 - xp.abs(energy) / 9.32, 0.0, 1.0),  # 0 hanging still (-9.32 J) .. 1 at 0 J; spinning is worse
        "slow_when_up": height**4 * xp.exp(-0.1 * w**2),
        "effort": xp.sum(action**2, axis=-1),
    }
