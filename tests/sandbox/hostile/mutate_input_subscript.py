# static: writes into the state dict s
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    s["pole_upright"] = s["pole_upright"] * 0
    return {"upright": s["pole_upright"]}
