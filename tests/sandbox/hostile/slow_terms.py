# contained: 90,000 array operations per call
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    acc = s["pole_upright"] * 0.0
    for i in range(300):
        for j in range(300):
            acc = acc + xp.sin(s["cart_x"]) * 1e-9
    return {"upright": acc}
