# contained: log of zero and 0/0 produce -inf/NaN
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": xp.log(s["cart_x"] * 0.0) + 0.0 / (s["cart_x"] * 0.0)}
