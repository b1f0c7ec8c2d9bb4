"""Reference reward for humanoid kneel_free: the kneel reference reward unchanged (kneel_free is kneel without its
topple termination), written by a person (the baseline and the LLM-free seed)."""

SCALES = {"knees_low": 0.5, "kneeling_upright": 2.0, "head_height": 0.5, "shins_down": 0.3, "not_lying": 0.3,
          "effort": -0.01}


def reward_terms(s, action, xp):
    knee_z = (s["left_knee_pos"][..., 2] + s["right_knee_pos"][..., 2]) / 2.0
    head_z = s["head_pos"][..., 2]
    # 1 with the head at an upright kneeling height (0.95-1.2 m), falling linearly to 0 at 0.7 m (sitting back or
    # slumped) and at 1.5 m (standing)
    head_band = xp.clip(xp.minimum((head_z - 0.7) / 0.25, (1.5 - head_z) / 0.3), 0.0, 1.0)
    knees_down = (s["left_knee_on_floor"] + s["right_knee_on_floor"]) / 2.0
    body_on_floor = xp.maximum(xp.maximum(s["torso_on_floor"], s["head_on_floor"]), s["pelvis_on_floor"])
    return {
        "knees_low": xp.exp(-((knee_z / 0.15) ** 2)),  # smooth pull of the knees toward the floor (0.44 m standing)
        "kneeling_upright": knees_down * xp.clip(s["torso_up"], 0.0, 1.0) * head_band,  # the pose itself
        "head_height": head_band,
        "shins_down": (s["left_shin_on_floor"] + s["right_shin_on_floor"]) / 2.0,  # a stable base, not two kneecaps
        "not_lying": 1.0 - body_on_floor,
        "effort": xp.sum(action**2, axis=-1),
    }
