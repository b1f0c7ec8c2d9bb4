"""Reference reward for half-cheetah run, written by a person (gymnasium HalfCheetah-v5 style, the baseline)."""

SCALES = {"forward": 1.0, "feet_down": 0.1, "effort": -0.1}


def reward_terms(s, action, xp):
    return {
        "forward": s["forward_velocity"],
        "feet_down": 1.0 - s["torso_on_floor"],  # discourages running on the back or head
        "effort": xp.sum(action**2, axis=-1),
    }
