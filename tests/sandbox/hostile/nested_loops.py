# static: nested constant loops (10**12 iterations in total)
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    acc = 0.0
    for i in range(10000):
        for j in range(10000):
            for k in range(10000):
                acc += 1.0
    return {"upright": s["pole_upright"]}
