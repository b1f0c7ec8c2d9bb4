# static: a recursive lambda
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    f = lambda n: f(n + 1)
    f(0)
    return {"upright": s["pole_upright"]}
