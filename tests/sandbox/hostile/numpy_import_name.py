# contained: uses np without importing it (no imports exist)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": np.cos(s["pole_angle"])}
