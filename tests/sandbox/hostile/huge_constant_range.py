# static: a for loop over range(10**12)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    acc = 0.0
    for i in range(10**12):
        acc += 1.0
    return {"upright": s["pole_upright"]}
