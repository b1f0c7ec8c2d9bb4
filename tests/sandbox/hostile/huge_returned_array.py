# contained: returns a 256 x 10**5 array per term
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": xp.ones((s["pole_upright"].shape[0], 10**5))}
