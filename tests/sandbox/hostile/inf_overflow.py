# contained: exp overflow gives inf
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": xp.exp(xp.abs(s["cart_velocity"]) * 1e6 + 1000.0)}
