# contained: a term of order 1e9
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"] * 1e9}
