"""Reference reward for hopper hop, written by a person (gymnasium Hopper-v5 style, the baseline and the seed)."""

SCALES = {"forward": 1.0, "healthy": 1.0, "effort": -1e-3}


def reward_terms(s, action, xp):
    return {
        "forward": s["forward_velocity"],
        "healthy": xp.ones_like(s["torso_height"]),  # paid every step the hopper has not fallen (episode still running)
        "effort": xp.sum(action**2, axis=-1),
    }
