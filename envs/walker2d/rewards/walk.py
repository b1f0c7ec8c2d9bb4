"""Reference reward for walker2d walk, written by a person (gymnasium Walker2d-v5 style, the baseline and the seed)."""

SCALES = {"forward": 1.0, "healthy": 1.0, "upright": 0.5, "tall": 0.5, "effort": -1e-3}


def reward_terms(s, action, xp):
    return {
        "forward": s["forward_velocity"],
        "healthy": xp.ones_like(s["torso_height"]),  # paid every step the walker has not fallen (episode running)
        "upright": xp.exp(-((s["torso_pitch"] / 0.3) ** 2)),
        "tall": xp.clip((s["torso_height"] - 0.8) / 0.4, 0.0, 1.0),
        "effort": xp.sum(action**2, axis=-1),
    }
