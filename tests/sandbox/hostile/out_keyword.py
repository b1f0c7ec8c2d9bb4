# static: xp.add(..., out=s[...]) writes into the simulator state
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    xp.add(s["cart_x"], 1.0, out=s["cart_x"])
    return {"upright": s["pole_upright"]}
