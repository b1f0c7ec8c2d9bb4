"""Reference reward for ant jumping, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"height": 2.0, "up_speed": 0.2, "upright": 0.5, "drift": -0.1, "effort": -0.01}


def reward_terms(s, action, xp):
    v = s["torso_velocity"]
    return {
        "height": xp.clip(s["torso_height"] - 0.5, 0.0, 1.0),  # metres above standing height
        "up_speed": xp.clip(v[..., 2], 0.0, 5.0),  # push off upward
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),  # land on the feet
        "drift": xp.sqrt(v[..., 0] ** 2 + v[..., 1] ** 2),  # jump in place
        "effort": xp.sum(action**2, axis=-1),
    }
