# static: reaches object through .mro() without dunders
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    base = xp.ndarray.mro()[-1]
    return {"upright": s["pole_upright"]}
