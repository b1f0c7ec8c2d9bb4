"""Reference reward for pendulum swing-up, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"height": 1.0, "upright_bonus": 1.0, "slow_when_up": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    height = (s["pole_upright"] + 1.0) / 2.0  # 0 hanging .. 1 upright
    return {
        "height": height,
        "upright_bonus": xp.exp(-4.0 * s["pole_angle"] ** 2),  # sharp peak at upright (dm_control-style tolerance)
        "slow_when_up": height**4 * xp.exp(-0.1 * s["pole_angular_velocity"] ** 2),
        "effort": xp.sum(action**2, axis=-1),
    }
