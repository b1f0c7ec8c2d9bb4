"""Reference reward for humanoid run, written by a person (DM Control style; the baseline and the LLM-free seed)."""

SCALES = {"forward": 1.0, "height": 0.5, "upright": 0.5, "sideways": -0.2, "healthy": 1.0, "effort": -0.01}


def reward_terms(s, action, xp):
    v = s["com_velocity"]
    return {
        "forward": xp.clip(v[..., 0], -2.0, 10.0),
        "height": xp.clip((s["head_pos"][..., 2] - 1.0) / 0.4, 0.0, 1.0),
        "upright": (1.0 + s["torso_up"]) / 2.0,
        "sideways": xp.abs(v[..., 1]),
        "healthy": xp.ones_like(v[..., 0]),  # paid every step it has not fallen (the episode is running)
        "effort": xp.sum(action**2, axis=-1),
    }
