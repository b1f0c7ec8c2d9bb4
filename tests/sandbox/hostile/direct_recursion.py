# static: a function that calls itself without end
def deep(n):
    return deep(n + 1)


SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    deep(0)
    return {"upright": s["pole_upright"]}
