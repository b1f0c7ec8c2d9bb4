# static: f-string that evaluates a dunder attribute
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    leak = f"{xp.sum.__globals__}"
    return {"upright": s["pole_upright"]}
