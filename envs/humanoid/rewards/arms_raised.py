"""Reference reward for humanoid arms raised, written by a person (the baseline and the LLM-free seed)."""

SCALES = {"hands_up": 1.0, "height": 1.0, "upright": 0.5, "healthy": 0.5, "effort": -0.01}


def reward_terms(s, action, xp):
    head = s["head_pos"][..., 2]
    left = xp.clip((s["left_hand_pos"][..., 2] - head + 0.4) / 0.6, 0.0, 1.0)  # 1 at 0.2 m above the head
    right = xp.clip((s["right_hand_pos"][..., 2] - head + 0.4) / 0.6, 0.0, 1.0)
    return {
        "hands_up": (left + right) / 2.0,
        "height": xp.clip((head - 1.05) / 0.35, 0.0, 1.0),
        "upright": (1.0 + s["torso_up"]) / 2.0,
        "healthy": xp.ones_like(head),  # paid every step it has not fallen (the episode is running)
        "effort": xp.sum(action**2, axis=-1),
    }
