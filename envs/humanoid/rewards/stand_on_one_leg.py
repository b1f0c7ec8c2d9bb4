"""Reference reward for humanoid standing on one leg, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"foot_lift": 1.0, "one_support": 0.5, "height": 1.0, "upright": 0.5, "healthy": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    lz, rz = s["left_foot_pos"][..., 2], s["right_foot_pos"][..., 2]
    left_up = xp.clip(lz / 0.25, 0.0, 1.0) * s["right_foot_on_floor"]  # left raised while standing on the right
    right_up = xp.clip(rz / 0.25, 0.0, 1.0) * s["left_foot_on_floor"]
    return {
        "foot_lift": xp.maximum(left_up, right_up),
        "one_support": xp.abs(s["left_foot_on_floor"] - s["right_foot_on_floor"]),  # exactly one foot down
        "height": xp.clip((s["head_pos"][..., 2] - 1.0) / 0.35, 0.0, 1.0),
        "upright": (1.0 + s["torso_up"]) / 2.0,
        "healthy": xp.ones_like(lz),  # paid every step it has not fallen (the episode is running)
        "effort": xp.sum(action**2, axis=-1),
    }
