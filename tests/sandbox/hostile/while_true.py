# static: an infinite while loop
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    while True:
        pass
    return {"upright": s["pole_upright"]}
