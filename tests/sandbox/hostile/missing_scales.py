# static: no SCALES dict
def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"]}
