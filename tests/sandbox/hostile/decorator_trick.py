# static: a decorator runs code at definition time
SCALES = {"upright": 1.0}


@print
def helper(x):
    return x


def reward_terms(s, action, xp):
    return {"upright": s["pole_upright"]}
