# static: changes global numpy error state
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    xp.seterr(all="ignore")
    return {"upright": s["pole_upright"]}
