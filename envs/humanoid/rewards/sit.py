"""Reference reward for humanoid sit, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"pelvis_low": 1.0, "upright": 0.7, "feet_down": 0.5, "knees_up": 0.3, "still": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    com_speed = xp.sqrt(xp.sum(s["com_velocity"] ** 2, axis=-1))
    return {
        "pelvis_low": xp.clip((0.87 - s["pelvis_pos"][..., 2]) / 0.42, 0.0, 1.0),  # 1 once the pelvis is below 0.45 m
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),
        "feet_down": (s["left_foot_on_floor"] + s["right_foot_on_floor"]) / 2.0,
        "knees_up": 1.0 - (s["left_knee_on_floor"] + s["right_knee_on_floor"]) / 2.0,  # sitting, not kneeling
        "still": xp.exp(-(com_speed**2)),
        "effort": xp.sum(action**2, axis=-1),
    }
