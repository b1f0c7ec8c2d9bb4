"""Reference reward for humanoid kneel (VLM-RM's task), written by a person (the baseline and the LLM-free seed)."""

SCALES = {"knees_low": 1.0, "knees_contact": 1.0, "upright": 0.5, "head_up": 0.5, "not_lying": 0.3, "effort": -0.01}


def reward_terms(s, action, xp):
    knee_z = (s["left_knee_pos"][..., 2] + s["right_knee_pos"][..., 2]) / 2.0
    body_on_floor = xp.maximum(xp.maximum(s["torso_on_floor"], s["head_on_floor"]), s["pelvis_on_floor"])
    return {
        "knees_low": xp.exp(-((knee_z / 0.15) ** 2)),  # smooth pull of the knees toward the floor (0.44 m standing)
        "knees_contact": (s["left_knee_on_floor"] + s["right_knee_on_floor"]) / 2.0,
        "upright": xp.clip(s["torso_up"], 0.0, 1.0),
        "head_up": xp.clip((s["head_pos"][..., 2] - 0.5) / 0.4, 0.0, 1.0),  # kneeling upright: head ~0.9-1.1 m
        "not_lying": 1.0 - body_on_floor,
        "effort": xp.sum(action**2, axis=-1),
    }
