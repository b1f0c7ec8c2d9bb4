"""Reference reward for humanoid stand, written by a person (DM Control style tolerances; the baseline and seed)."""

SCALES = {"height": 1.0, "upright": 1.0, "still": 0.3, "healthy": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    com_speed = xp.sqrt(xp.sum(s["com_velocity"][..., :2] ** 2, axis=-1))
    return {
        "height": xp.clip((s["head_pos"][..., 2] - 1.05) / 0.35, 0.0, 1.0),  # 1 once the head is at 1.4 m
        "upright": (1.0 + s["torso_up"]) / 2.0,
        "still": xp.exp(-(com_speed**2)),
        "healthy": xp.ones_like(com_speed),  # paid every step it has not fallen (the episode is running)
        "effort": xp.sum(action**2, axis=-1),
    }
