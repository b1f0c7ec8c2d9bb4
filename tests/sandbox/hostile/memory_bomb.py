# contained: allocates a 80 GB array (xp.ones((10**6, 10**4)))
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    big = xp.ones((10**6, 10**4))
    return {"upright": s["pole_upright"] + big[0, 0]}
