"""Reference reward for humanoid lie down, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"head_low": 1.0, "torso_low": 1.0, "pelvis_low": 0.5, "back_contact": 0.3, "still": 0.2, "effort": -0.01}


def reward_terms(s, action, xp):
    com_speed = xp.sqrt(xp.sum(s["com_velocity"] ** 2, axis=-1))
    return {
        "head_low": xp.clip((1.48 - s["head_pos"][..., 2]) / 1.28, 0.0, 1.0),  # 1 once the head is below 0.2 m
        "torso_low": xp.clip((1.29 - s["torso_pos"][..., 2]) / 1.09, 0.0, 1.0),
        "pelvis_low": xp.clip((0.87 - s["pelvis_pos"][..., 2]) / 0.67, 0.0, 1.0),
        "back_contact": xp.maximum(s["torso_on_floor"], s["pelvis_on_floor"]),
        "still": xp.exp(-(com_speed**2)),
        "effort": xp.sum(action**2, axis=-1),
    }
