# contained: returns a term that SCALES does not name
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"], "bonus": s["cart_x"]}
