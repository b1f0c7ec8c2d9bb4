"""Reference reward for cart-pole swing-up, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"height": 1.0, "still_when_up": 0.2, "centred": 0.1, "effort": -0.01}


def reward_terms(s, action, xp):
    upright = (s["pole_upright"] + 1.0) / 2.0
    return {
        "height": upright,
        "still_when_up": upright * xp.exp(-0.1 * s["pole_angular_velocity"] ** 2),
        "centred": xp.exp(-s["cart_x"] ** 2),
        "effort": xp.sum(action**2, axis=-1),
    }
