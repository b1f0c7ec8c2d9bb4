"""Reference reward for reacher, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"distance": -1.0, "near": 1.0, "on_target": 1.0, "still_on_target": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    d = s["distance"]
    speed = xp.sqrt(xp.sum(s["fingertip_velocity"] ** 2, axis=-1))
    on_target = xp.exp(-((d / 0.02) ** 2))  # smooth bump with a 2 cm width
    return {
        "distance": d / 0.2,  # dense pull toward the target, 1 at the far edge of the reach
        "near": xp.exp(-((d / 0.08) ** 2)),  # wider bump that starts the approach
        "on_target": on_target,
        "still_on_target": on_target * xp.exp(-((speed / 0.1) ** 2)),
        "effort": xp.sum(action**2, axis=-1),
    }
