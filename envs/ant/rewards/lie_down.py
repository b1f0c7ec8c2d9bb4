"""Reference reward for ant lying down, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"low": 1.0, "belly_contact": 1.0, "upright": 0.5, "legs_spread": 0.5, "still": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    speed = xp.sqrt(xp.sum(s["torso_velocity"] ** 2, axis=-1))
    return {
        "low": xp.clip((0.5 - s["torso_height"]) / 0.25, 0.0, 1.0),  # 0 standing (0.5 m) .. 1 lying (0.25 m)
        "belly_contact": s["belly_on_floor"],
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),
        "legs_spread": xp.clip((xp.mean(s["foot_spread"], axis=-1) - 0.9) / 0.2, 0.0, 1.0),
        "still": xp.exp(-speed**2),
        "effort": xp.sum(action**2, axis=-1),
    }
