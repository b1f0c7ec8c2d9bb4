# static: str.format attribute lookup to read function globals
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    leak = "{0.__init__.__globals__}".format(xp)
    return {"upright": s["pole_upright"]}
