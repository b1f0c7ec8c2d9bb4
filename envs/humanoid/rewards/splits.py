"""Reference reward for humanoid splits, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"feet_apart": 1.0, "pelvis_low": 1.0, "upright": 0.3, "feet_down": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    apart = xp.abs(s["left_foot_pos"][..., 0] - s["right_foot_pos"][..., 0])
    return {
        "feet_apart": xp.clip(apart / 1.4, 0.0, 1.0),  # along x: one leg forward, one back
        "pelvis_low": xp.clip((0.87 - s["pelvis_pos"][..., 2]) / 0.6, 0.0, 1.0),
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),
        "feet_down": (s["left_foot_on_floor"] + s["right_foot_on_floor"]) / 2.0,
        "effort": xp.sum(action**2, axis=-1),
    }
