# contained: a boolean term instead of a float
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"] > 0.9}
