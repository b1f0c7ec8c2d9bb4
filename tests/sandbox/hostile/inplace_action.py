# contained: scales the action array in place
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    action *= 0.0
    return {"upright": s["pole_upright"] + xp.sum(action, axis=-1)}
