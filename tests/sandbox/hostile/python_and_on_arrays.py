# contained: `and` between arrays works in numpy for 0-d but not batches/jit
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    ok = s["pole_upright"].max() > 0 and s["cart_x"].min() < 0
    return {"upright": s["pole_upright"] * ok}
