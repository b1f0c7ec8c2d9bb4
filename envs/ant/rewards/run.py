"""Reference reward for ant run, written by a person (gymnasium Ant-v5 style, the baseline and the LLM-free seed)."""

SCALES = {"forward": 1.0, "healthy": 0.5, "upright": 0.2, "sideways": -0.1, "effort": -0.05}


def reward_terms(s, action, xp):
    return {
        "forward": s["torso_velocity"][..., 0],
        "healthy": xp.ones_like(s["torso_height"]),  # paid every step the ant has not flipped over (episode running)
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),
        "sideways": xp.abs(s["torso_velocity"][..., 1]),  # keep heading along +x
        "effort": xp.sum(action**2, axis=-1),
    }
