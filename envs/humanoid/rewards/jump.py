"""Reference reward for humanoid jump, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"com_height": 3.0, "up_speed": 0.3, "upright": 0.5, "drift": -0.2, "healthy": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    v = s["com_velocity"]
    return {
        "com_height": xp.clip(s["com_pos"][..., 2] - 0.85, 0.0, 0.6),  # metres above the standing height
        "up_speed": xp.clip(v[..., 2], 0.0, 4.0),
        "upright": (1.0 + s["torso_up"]) / 2.0,
        "drift": xp.sqrt(v[..., 0] ** 2 + v[..., 1] ** 2),  # jump in place
        "healthy": xp.ones_like(v[..., 0]),  # paid every step it has not fallen (the episode is running)
        "effort": xp.sum(action**2, axis=-1),
    }
